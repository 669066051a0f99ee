'use strict';
/**
 * AWS SDK v3 clients: each command becomes an `aws` subsegment named after the service
 * (`DynamoDB`, `SQS`, …) with operation, region, request id, retries, selected resource
 * names and the HTTP status; the request carries `X-Amzn-Trace-Id`. The middleware sits at the
 * build step, outside the retry loop, so one command is one subsegment.
 */

const context = require('./context');
const { recordError } = require('./errors');

const MIDDLEWARE_NAME = 'OxrayInstrumentation';

/**
 * Request parameters recorded per service (input name → `aws` key). Lists are recorded as
 * given; `RequestItems`-style maps as their table names.
 * @type {Record<string, Record<string, string>>}
 */
const REQUEST_PARAMS = {
  dynamodb: {
    TableName: 'table_name',
    IndexName: 'index_name',
    ConsistentRead: 'consistent_read',
    ProjectionExpression: 'projection_expression',
    Select: 'select',
    Limit: 'limit',
    ScanIndexForward: 'scan_index_forward',
    Segment: 'segment',
    TotalSegments: 'total_segments',
    AttributesToGet: 'attributes_to_get',
  },
  sqs: { QueueUrl: 'queue_url', QueueName: 'queue_name', MessageAttributeNames: 'message_attribute_names', AttributeNames: 'attribute_names' },
  sns: { TopicArn: 'topic_arn', TargetArn: 'target_arn' },
  lambda: { FunctionName: 'function_name', InvocationType: 'invocation_type', LogType: 'log_type', Qualifier: 'qualifier' },
  s3: { Bucket: 'bucket_name', Key: 'key' },
  sagemakerruntime: { EndpointName: 'endpoint_name' },
};

/** @type {Record<string, Record<string, string>>} */
const RESPONSE_PARAMS = {
  dynamodb: { ConsumedCapacity: 'consumed_capacity', Count: 'count', ScannedCount: 'scanned_count' },
  sqs: { MessageId: 'message_id' },
  sns: { MessageId: 'message_id' },
  lambda: { StatusCode: 'status_code', FunctionError: 'function_error' },
};

const THROTTLE_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'SlowDown',
]);

/** @param {any} client */
function serviceName(client) {
  const id = client?.config?.serviceId;
  if (typeof id === 'string' && id) return id;
  const ctor = String(client?.constructor?.name ?? 'AWS');
  return ctor.endsWith('Client') ? ctor.slice(0, -'Client'.length) : ctor;
}

/**
 * @param {import('./native').Native} native
 * @param {number} h
 * @param {Record<string, string> | undefined} wanted
 * @param {any} source
 */
function copyParams(native, h, wanted, source) {
  if (!wanted || source === null || typeof source !== 'object') return;
  for (const [param, key] of Object.entries(wanted)) {
    const value = source[param];
    if (value === undefined) continue;
    try {
      native.setAws(h, key, JSON.stringify(value) ?? 'null');
    } catch {
      // Unserializable parameter: skipped.
    }
  }
  if (source.RequestItems && typeof source.RequestItems === 'object') {
    native.setAws(h, 'table_names', JSON.stringify(Object.keys(source.RequestItems)));
  }
}

/**
 * @param {any} client
 * @param {import('./tracer').Tracer} tracer
 */
function instrumentClient(client, tracer) {
  const stack = client?.middlewareStack;
  if (!stack || typeof stack.add !== 'function') {
    tracer._warn('captureAWSv3Client() needs an AWS SDK v3 client (with a middlewareStack); left untraced');
    return;
  }
  const service = serviceName(client);
  const serviceKey = service.toLowerCase().replace(/[^a-z]/g, '');
  /** @type {any} */
  const middleware = (/** @type {any} */ next, /** @type {any} */ ctx) => async (/** @type {any} */ args) => {
    const store = context.currentStore();
    const native = tracer._native;
    if (store === null || native === null) return next(args);
    const h = native.begin(store.h, service);
    if (h === 0) return next(args);
    try {
      native.setNamespace(h, 'aws');
      const headers = args?.request?.headers;
      if (headers && typeof headers === 'object') headers['X-Amzn-Trace-Id'] = native.outgoingHeader(h) ?? '';
      const operation = String(ctx?.commandName ?? '').replace(/Command$/, '');
      if (operation) native.setAws(h, 'operation', JSON.stringify(operation));
      copyParams(native, h, REQUEST_PARAMS[serviceKey], args?.input);
    } catch (err) {
      tracer._internalError(err);
    }
    /** @param {any} metadata @param {any} response */
    const finishCommon = async (metadata, response) => {
      try {
        const region = await client.config?.region?.();
        if (typeof region === 'string') native.setAws(h, 'region', JSON.stringify(region));
      } catch {
        // Region unknown: left out.
      }
      if (metadata?.requestId) native.setAws(h, 'request_id', JSON.stringify(String(metadata.requestId)));
      if (Number.isInteger(metadata?.attempts)) native.setAws(h, 'retries', String(Math.max(0, metadata.attempts - 1)));
      const status = response?.statusCode ?? metadata?.httpStatusCode;
      if (Number.isInteger(status)) {
        const length = Number(response?.headers?.['content-length']);
        native.httpResponse(h, status, Number.isFinite(length) ? length : null);
      }
    };
    const close = () => {
      native.end(h);
    };
    let result;
    try {
      result = await next(args);
    } catch (err) {
      try {
        const e = /** @type {any} */ (err);
        await finishCommon(e?.$metadata, e?.$response);
        if (THROTTLE_NAMES.has(e?.name)) native.setFlags(h, true, false, true);
        recordError(native, h, err, true);
        close();
      } catch (inner) {
        tracer._internalError(inner);
      }
      throw err;
    }
    try {
      await finishCommon(result?.output?.$metadata, result?.response);
      copyParams(native, h, RESPONSE_PARAMS[serviceKey], result?.output);
      close();
    } catch (inner) {
      tracer._internalError(inner);
    }
    return result;
  };
  try {
    stack.remove(MIDDLEWARE_NAME);
  } catch {
    // Not added before.
  }
  stack.add(middleware, { step: 'build', name: MIDDLEWARE_NAME, tags: ['X-RAY', 'OXRAY'] });
}

module.exports = { instrumentClient, serviceName };
