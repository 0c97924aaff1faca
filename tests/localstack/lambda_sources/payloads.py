"""For payload-size tests: reports what it received, or returns a result of a given size."""

import json
from typing import Any


def handler(event: Any, context: Any) -> Any:
    if isinstance(event, str):
        return {"received_chars": len(event)}
    if "respond_chars" in event:
        # A JSON string: its serialised size is the character count plus two quotes.
        return "x" * int(event["respond_chars"])
    # An API Gateway proxy event: the body's size as the function saw it.
    body = event.get("body") or ""
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(
            {"body_chars": len(body), "is_base64_encoded": event.get("isBase64Encoded")}
        ),
    }
