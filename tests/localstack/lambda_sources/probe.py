"""A Lambda handler whose behaviour each test chooses through the event."""

import os
import sys
import time
from typing import Any

print("probe module initialised")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = event.get("action", "echo")
    print(f"probe handling {action}")
    if action == "fail":
        raise ValueError(f"asked to fail: {event.get('reason', 'no reason')}")
    if action == "sleep":
        time.sleep(float(event["seconds"]))
    if action == "allocate":
        block = bytearray(int(event["megabytes"]) * 1024 * 1024)
        return {"allocated": len(block)}
    if action == "exit":
        sys.exit(3)
    import boto3  # from the runtime, not from the package

    return {
        "echo": event,
        "pid": os.getpid(),
        "boto3_file": boto3.__file__,
        "environment": {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "LAMBDA_"))},
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": int(context.memory_limit_in_mb),
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
    }
