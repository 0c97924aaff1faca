"""The type of the `aws` fixture: boto3 clients bound to the test session's LocalStack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

AwsClientFactory = Callable[[str], Any]
