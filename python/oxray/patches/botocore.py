"""botocore / boto3: an ``aws`` subsegment per API call, named after the service's endpoint
prefix (``dynamodb``, ``sqs``, ``s3``…), with ``aws.operation``, ``region``, ``request_id``,
``retries`` and the resource names the X-Ray SDK records (table, queue, bucket, key,
function, topic, stream), ``http.response.status``, and the trace header on the request.
Response bodies (an S3 ``StreamingBody``) are never read."""

from __future__ import annotations

import contextvars

from .. import _core, _errors
from . import _http

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Dict, Optional

#: The subsegment of the API call in progress, for the header injection in prepare_request.
_call: contextvars.ContextVar[Optional[_core.Entity]] = contextvars.ContextVar("oxray_aws_call", default=None)

#: request parameter → aws field, per service (endpoint prefix).
_PARAMS: Dict[str, Dict[str, str]] = {
    "dynamodb": {"TableName": "table_name"},
    "sqs": {"QueueUrl": "queue_url"},
    "s3": {"Bucket": "bucket_name", "Key": "key"},
    "lambda": {"FunctionName": "function_name", "InvocationType": "invocation_type"},
    "sns": {"TopicArn": "topic_arn"},
    "kinesis": {"StreamName": "stream_name"},
    "states": {"StateMachineArn": "state_machine_arn"},
    "events": {"EventBusName": "event_bus_name"},
    "secretsmanager": {"SecretId": "secret_id"},
}


def _service(client: Any) -> str:
    model = getattr(client, "_service_model", None)
    metadata = getattr(model, "metadata", None) or {}
    return metadata.get("endpointPrefix") or getattr(model, "service_name", "aws") or "aws"


def _describe_request(sub: _core.Entity, service: str, operation: str, client: Any, params: Any) -> None:
    sub.set_namespace("aws")
    sub.set_aws("operation", operation)
    region = getattr(getattr(client, "meta", None), "region_name", None)
    if region:
        sub.set_aws("region", region)
    if not isinstance(params, dict):
        return
    for param, field in _PARAMS.get(service, {}).items():
        value = params.get(param)
        if isinstance(value, (str, int)):
            sub.set_aws(field, value)
    if service == "dynamodb" and isinstance(params.get("RequestItems"), dict):
        sub.set_aws("table_names", sorted(params["RequestItems"]))


def _describe_response(sub: _core.Entity, service: str, response: Any) -> None:
    if not isinstance(response, dict):
        return
    meta = response.get("ResponseMetadata") or {}
    request_id = meta.get("RequestId") or (meta.get("HTTPHeaders") or {}).get("x-amz-request-id")
    if request_id:
        sub.set_aws("request_id", request_id)
    retries = meta.get("RetryAttempts")
    if retries:
        sub.set_aws("retries", retries)
    if service == "sqs" and isinstance(response.get("Messages"), list):
        sub.set_aws("message_count", len(response["Messages"]))
    status = meta.get("HTTPStatusCode")
    if status is not None:
        sub.set_http_response(status)


def patch_client(client: Any) -> None:
    client_cls = client.BaseClient
    original = client_cls._make_api_call
    if getattr(original, "__oxray__", False):
        return

    def _make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
        entity = _http.parent()
        if entity is None:
            return original(self, operation_name, api_params)
        service = _service(self)
        sub = entity.begin_subsegment(service)
        if sub.sampled:
            _describe_request(sub, service, operation_name, self, api_params)
        call = _call.set(sub)
        busy = _http.busy()
        try:
            response = original(self, operation_name, api_params)
        except BaseException as exc:
            error_response = getattr(exc, "response", None)
            if sub.sampled and isinstance(error_response, dict):
                _describe_response(sub, service, error_response)
            _errors.record(sub, exc, remote=isinstance(error_response, dict))
            sub.end()
            raise
        finally:
            _http.done(busy)
            _call.reset(call)
        if sub.sampled:
            _describe_response(sub, service, response)
        sub.end()
        return response

    _make_api_call.__oxray__ = True  # type: ignore[attr-defined]
    _make_api_call.__wrapped__ = original  # type: ignore[attr-defined]
    client_cls._make_api_call = _make_api_call


def patch_endpoint(endpoint: Any) -> None:
    endpoint_cls = endpoint.Endpoint
    original = endpoint_cls.prepare_request
    if getattr(original, "__oxray__", False):
        return

    def prepare_request(self: Any, request: Any) -> Any:
        sub = _call.get()
        if sub is not None:
            try:
                request.headers[_http.HEADER] = sub.outgoing_header()
            except Exception:  # noqa: BLE001
                pass
        return original(self, request)

    prepare_request.__oxray__ = True  # type: ignore[attr-defined]
    endpoint_cls.prepare_request = prepare_request
