"""Notifications of a finished task: who asked (an e-mail address, a callback URL), the words of
the e-mail, the signature of a webhook, and which callback addresses are refused."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sheetflow.logic.errors import RequestRejectedError

_EMAIL = re.compile(r"^[^@\s<>,;]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
MAX_URL_LENGTH = 2048
# Cloud metadata services answer on link-local addresses and these names.
_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})

SIGNATURE_HEADER = "X-Sheetflow-Signature"
TIMESTAMP_HEADER = "X-Sheetflow-Timestamp"
DELIVERY_HEADER = "X-Sheetflow-Delivery"


def check_email(address: str) -> str:
    address = address.strip()
    if not _EMAIL.match(address):
        raise RequestRejectedError(
            "INVALID_NOTIFY", f"notify {address!r} is not an e-mail address like ops@example.com."
        )
    return address


def check_callback_url(url: str, allow_loopback: bool) -> str:
    """An http(s) URL whose host is not a link-local or metadata address (nor loopback unless
    allowed); RequestRejectedError otherwise. Host names are checked again, resolved, at
    delivery (`check_resolved`)."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or len(url) > MAX_URL_LENGTH:
        raise RequestRejectedError(
            "INVALID_CALLBACK_URL",
            f"callback_url {url[:200]!r} must be an http:// or https:// URL with a host.",
        )
    host = parts.hostname.lower()
    if host in _METADATA_HOSTS:
        raise RequestRejectedError(
            "INVALID_CALLBACK_URL", f"callback_url host {host} is a metadata service."
        )
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" and not allow_loopback:
            raise _refused(host, "a loopback address") from None
        return url
    check_resolved(host, [str(address)], allow_loopback)
    return url


def check_resolved(host: str, addresses: list[str], allow_loopback: bool) -> None:
    """Refuse delivery when the host resolves to a link-local (metadata) or, unless allowed,
    a loopback address, or to an unspecified or multicast one."""
    for text in addresses:
        address = ipaddress.ip_address(text)
        if address.is_link_local:
            raise _refused(host, f"a link-local address ({address})")
        if address.is_loopback and not allow_loopback:
            raise _refused(host, f"a loopback address ({address})")
        if address.is_unspecified or address.is_multicast:
            raise _refused(host, f"an address no server has ({address})")


def _refused(host: str, what: str) -> RequestRejectedError:
    return RequestRejectedError(
        "INVALID_CALLBACK_URL",
        f"callback_url host {host} is {what}: deliveries go to public http(s) servers only.",
    )


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 over `<timestamp>.<body>` with the deployment's secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


@dataclass(frozen=True)
class Mail:
    subject: str
    body: str


def task_mail(detail: dict[str, Any]) -> Mail:
    """The e-mail about a finished task, in words a person reads."""
    name, task_id, status = (
        detail.get("filename") or "your workbook",
        detail["task_id"],
        detail["status"],
    )
    if status == "SUCCEEDED":
        summary = detail.get("summary") or {}
        sheets, rows = summary.get("sheet_count", 0), summary.get("total_rows", 0)
        errors = summary.get("total_errors", 0)
        result = detail.get("result") or {}
        return Mail(
            subject=f"{name} is processed: {rows:,} rows in {sheets} sheet(s)",
            body=(
                f"Your workbook {name} was processed successfully.\n\n"
                f"Sheets: {sheets}\nRows: {rows:,}\nCells with Excel errors: {errors}\n\n"
                f"The full result is at s3://{result.get('bucket')}/{result.get('key')}.\n"
                f"Task: {task_id}\n"
            ),
        )
    if status == "FAILED":
        error = detail.get("error") or {}
        return Mail(
            subject=f"{name} could not be processed",
            body=(
                f"Your workbook {name} could not be processed.\n\n"
                f"Reason: {error.get('message')}\n(code {error.get('code')})\n\n"
                f"Task: {task_id}\n"
            ),
        )
    return Mail(
        subject=f"{name} was cancelled",
        body=f"Processing of your workbook {name} was cancelled as requested.\n\nTask: {task_id}\n",
    )
