"""The deployed REST API, spoken to over plain HTTP (the standard library: no extra dependency)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from stackctl.errors import UserFacingError

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REQUEST_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def error_text(self) -> str:
        """`CODE: message` from the API's error document, else the raw body."""
        document = self.json()
        if isinstance(document, dict) and isinstance(document.get("error"), dict):
            error = document["error"]
            return f"{error.get('code')}: {error.get('message')}"
        return self.body.decode(errors="replace").strip() or "(empty body)"


def http_request(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = REQUEST_TIMEOUT_SECONDS,
) -> ApiResponse:
    """One HTTP exchange; HTTP error statuses come back as responses, not exceptions."""
    if not url.startswith(("http://", "https://")):
        raise UserFacingError(f"{url!r} is not an http(s) URL.", "Check the stack's ApiUrl output.")
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        # bandit B310: the scheme is checked above, so no file:// or custom scheme is opened.
        with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec B310
            return ApiResponse(response.status, response.read(), dict(response.headers.items()))
    except urllib.error.HTTPError as error:
        return ApiResponse(error.code, error.read(), dict(error.headers.items()))
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise UserFacingError(
            f"{method} {url} got no answer: {getattr(error, 'reason', error)}.",
            "Is LocalStack running? Check with `sheetflow status`; start with `make deploy`.",
        ) from error


class ApiClient:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def url(self, path: str, query: dict[str, str] | None = None) -> str:
        suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
        return f"{self.base_url}/{path.lstrip('/')}{suffix}"

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> ApiResponse:
        return http_request(method, self.url(path, query), body, headers)

    def upload(self, data: bytes, filename: str) -> dict[str, Any]:
        """POST /uploads: the workbook as the body, its name as a query parameter."""
        response = self.request(
            "POST",
            "/uploads",
            query={"filename": filename},
            body=data,
            headers={"Content-Type": XLSX_MEDIA_TYPE},
        )
        return _accepted(response, f"Upload of {filename}")

    def presign(self, filename: str) -> dict[str, Any]:
        """POST /uploads/presign: a task awaiting its upload and the URL to PUT it to."""
        response = self.request(
            "POST",
            "/uploads/presign",
            body=json.dumps({"filename": filename}).encode(),
            headers={"Content-Type": "application/json"},
        )
        return _accepted(response, f"Presigning an upload of {filename}")

    def task(self, task_id: str) -> dict[str, Any] | None:
        """GET /tasks/{id}; None while the task does not exist (yet)."""
        response = self.request("GET", f"/tasks/{task_id}")
        if response.status == 404:
            return None
        document = _accepted(response, f"Reading task {task_id}")
        return document


def put_presigned(url: str, data: bytes) -> None:
    """PUT the bytes to a presigned S3 URL (it signs only the host: any content type works)."""
    response = http_request("PUT", url, data, {"Content-Type": XLSX_MEDIA_TYPE})
    if not response.ok:
        raise UserFacingError(
            f"The presigned upload failed with HTTP {response.status}: {response.error_text()}"
        )


def _accepted(response: ApiResponse, what: str) -> dict[str, Any]:
    document = response.json()
    if not response.ok or not isinstance(document, dict):
        raise UserFacingError(
            f"{what} failed: HTTP {response.status}, {response.error_text()}",
            "See the API's log with `sheetflow logs api`.",
        )
    return document
