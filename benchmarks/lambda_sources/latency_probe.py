"""Records, per SQS message, how long after it was sent the handler started on it."""

import json
import os
import time
from typing import Any

import boto3

table = boto3.resource("dynamodb").Table(os.environ["LATENCY_TABLE"])


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.time()
    for record in event.get("Records", []):
        sent = json.loads(record["body"])["sent_at"]
        table.put_item(Item={"id": record["messageId"], "latency": str(started - sent)})
    return {"batchItemFailures": []}
