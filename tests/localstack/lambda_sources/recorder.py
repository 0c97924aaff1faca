"""Records every record it receives in a DynamoDB table, and fails the ones marked to fail.

With ReportBatchItemFailures it reports failed SQS messages individually; the table lets a test
see which messages were delivered, how often and in which batch.
"""

import json
import os
import time
import uuid
from typing import Any

import boto3

table = boto3.resource("dynamodb").Table(os.environ["RECORD_TABLE"])


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    batch_id = uuid.uuid4().hex
    records = event.get("Records") or [event]
    failures = []
    for record in records:
        body = record.get("body", json.dumps(record))
        message_id = record.get("messageId", batch_id)
        table.put_item(
            Item={
                "id": uuid.uuid4().hex,
                "message_id": message_id,
                "body": body,
                "batch_id": batch_id,
                "batch_size": len(records),
                "receive_count": int(
                    record.get("attributes", {}).get("ApproximateReceiveCount", 0)
                ),
                "received_at": str(time.time()),
            }
        )
        if "fail" in body:
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}
