"""Webhook deliveries: the signing secret (Secrets Manager), the receiver's addresses (DNS) and
the POST itself (HTTP)."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from sheetflow.dal.clients import secrets_client
from sheetflow.dal.errors import dependency_call


def signing_secret(secret_id: str) -> str:
    with dependency_call("GetSecretValue"):
        return secrets_client().get_secret_value(SecretId=secret_id)["SecretString"]


def resolve(url: str) -> tuple[str, list[str]]:
    """The URL's host and every address it resolves to (empty when it does not resolve)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return host, []
    return host, sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class DeliveryResult:
    status: int | None  # the HTTP status, None when there was no answer
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could lead to an address the URL check refused: the answer is the 3xx itself.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> DeliveryResult:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return DeliveryResult(status=response.status)
    except urllib.error.HTTPError as exc:
        return DeliveryResult(status=exc.code, error=f"HTTP {exc.code}")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return DeliveryResult(status=None, error=f"{type(exc).__name__}: {exc}")
