"""The demo's "payment" Lambda function, traced with oxray.

``from oxray import Tracer`` is the only line that differs from a Powertools function. The
handler validates the order, charges the card at the bank over HTTP (traced by the http.client
patch: urllib uses it) and returns a receipt; a declined card raises ``PaymentDeclined``, which
the trace records as a fault with its message and stack.
"""

from __future__ import annotations

import json
import os
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import urlopen

from oxray import Tracer

# Service name from POWERTOOLS_SERVICE_NAME; urllib goes through http.client ("httplib").
tracer = Tracer(patch_modules=["httplib"])

BANK_URL = os.environ.get("BANK_URL", "http://127.0.0.1:8080")


class PaymentDeclined(Exception):
    pass


@tracer.capture_method
def validate_order(event: dict) -> dict:
    amount = round(float(event["amount"]), 2)
    if amount <= 0:
        raise ValueError(f"invalid amount {amount}")
    order = {"order_id": event["order_id"], "amount": amount, "currency": event.get("currency", "EUR")}
    tracer.put_annotation("Currency", order["currency"])
    return order


@tracer.capture_method
def charge_card(order: dict, card: str) -> dict:
    query = urlencode({"amount": order["amount"], "card": card})
    try:
        with urlopen(f"{BANK_URL}/charge?{query}", timeout=5) as response:
            answer = json.load(response)
    except HTTPError as refused:
        answer = json.load(refused)
        tracer.put_metadata("bank_answer", answer)
        raise PaymentDeclined(f"card ending {card[-4:]} declined: {answer['reason']}") from None
    tracer.put_metadata("bank_answer", answer)
    return answer


@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: object) -> dict:
    tracer.put_annotation("OrderId", event["order_id"])
    order = validate_order(event)
    tracer.put_annotation("Amount", order["amount"])
    answer = charge_card(order, event["card"])
    receipt = {**order, "authorization": answer["authorization"]}
    tracer.put_metadata("receipt", receipt)
    return {"statusCode": 200, "body": json.dumps(receipt)}
