"""How long a transiently failed message stays invisible before its next attempt."""

from __future__ import annotations

# SQS refuses visibility timeouts above 12 hours.
SQS_MAX_VISIBILITY_SECONDS = 43_200


def retry_delay_seconds(receive_count: int, base_seconds: int, cap_seconds: int) -> int:
    """base x 2^(n-1) for the n-th receive, capped: 30 s, 60 s, 120 s, ... with base 30."""
    attempt = max(receive_count, 1)
    # Bound the exponent so a huge receive count cannot build a huge integer.
    delay: int = base_seconds * (1 << min(attempt - 1, 20))
    return max(0, min(delay, cap_seconds, SQS_MAX_VISIBILITY_SECONDS))
