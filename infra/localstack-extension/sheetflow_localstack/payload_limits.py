"""AWS Lambda's invocation payload limits, and the errors AWS answers with when one is exceeded.

LocalStack 2026.3.0 hands its limit only to the init binary of its Docker executor, so without
this module nothing checks payload sizes on a host run: an upload that works locally would fail
on AWS. The figures are AWS's (Lambda quotas, Invoke API reference):

- synchronous request (RequestResponse): 6 MB, checked as 6,291,456 bytes of Invoke body;
- asynchronous request (Event): 1 MB (1,048,576 bytes; AWS raised it from 256 KB in 2025);
- response, any invocation type: 6,291,556 bytes (6 MiB plus 100) of serialised result.

Pure functions, no LocalStack imports: the hooks in `patches.py` and the executor apply them.
"""

from __future__ import annotations

SYNC_REQUEST_LIMIT_BYTES = 6 * 1024 * 1024
ASYNC_REQUEST_LIMIT_BYTES = 1024 * 1024
RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024 + 100

RESPONSE_TOO_LARGE_ERROR_TYPE = "Function.ResponseSizeTooLarge"


def request_too_large_message(payload_bytes: int, invocation_type: str | None) -> str | None:
    """The RequestEntityTooLargeException message AWS gives for this payload, or None if it fits.

    `invocation_type` is Invoke's InvocationType (None means RequestResponse). DryRun carries no
    payload to a function but is checked as synchronous, as AWS validates the request the same way.
    """
    if invocation_type == "Event":
        if payload_bytes > ASYNC_REQUEST_LIMIT_BYTES:
            return (
                f"{payload_bytes} byte payload is too large for the Event invocation type "
                f"(limit {ASYNC_REQUEST_LIMIT_BYTES} bytes)"
            )
        return None
    if payload_bytes > SYNC_REQUEST_LIMIT_BYTES:
        return (
            f"Request must be smaller than {SYNC_REQUEST_LIMIT_BYTES} bytes "
            "for the InvokeFunction operation"
        )
    return None


def response_too_large_error(response_bytes: int) -> dict[str, str] | None:
    """The error payload Invoke returns for a result over the limit, or None if it fits."""
    if response_bytes <= RESPONSE_LIMIT_BYTES:
        return None
    return {
        "errorMessage": (
            f"Response payload size ({response_bytes} bytes) exceeded maximum allowed payload "
            f"size ({RESPONSE_LIMIT_BYTES} bytes)."
        ),
        "errorType": RESPONSE_TOO_LARGE_ERROR_TYPE,
    }
