"""The deployed REST API, spoken to over plain HTTP (the standard library: no extra dependency)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from sheetflow.logic.uploads import XLSX_MEDIA_TYPE
from stackctl import api_keys
from stackctl.errors import UserFacingError
from stackctl.stack import StackOutputs

REQUEST_TIMEOUT_SECONDS = 30.0
# A create that got no answer, a gateway error or "the first try is still running" (409) is sent
# again with the same Idempotency-Key: the API answers it with the first try's task, if any.
CREATE_ATTEMPTS = 3
CREATE_RETRY_PAUSE_SECONDS = 2.0
_RETRIED_STATUSES = frozenset({409, 502, 503, 504})


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
    """The API at `base_url`; every request carries `api_key` (header x-api-key) when given.
    `key_id` is that key's id: the owner of the tasks it creates and the folder of its files."""

    def __init__(
        self, base_url: str, api_key: str | None = None, key_id: str | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.key_id = key_id

    @classmethod
    def for_stack(cls, outputs: StackOutputs) -> ApiClient:
        """The stack's API with the key from SHEETFLOW_API_KEY or the stack's default key."""
        key = api_keys.current_key(outputs)
        return cls(outputs.api_base_url, key.value, key.key_id)

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
        sent = dict(headers or {})
        if self.api_key:
            sent[api_keys.API_KEY_HEADER] = self.api_key
        return http_request(method, self.url(path, query), body, sent)

    def upload(self, data: bytes, filename: str) -> dict[str, Any]:
        """POST /uploads: the workbook as the body, its name as a query parameter."""
        response = self._create(
            "/uploads",
            query={"filename": filename},
            body=data,
            headers={"Content-Type": XLSX_MEDIA_TYPE},
        )
        return _accepted(response, f"Upload of {filename}")

    def presign(self, filename: str, size: int | None = None) -> dict[str, Any]:
        """POST /uploads/presign: a task awaiting its upload and a presigned POST (form fields)
        whose policy caps the size; with `size`, an oversize file is refused at once (413)."""
        document: dict[str, Any] = {"filename": filename}
        if size is not None:
            document["size"] = size
        response = self._create(
            "/uploads/presign",
            body=json.dumps(document).encode(),
            headers={"Content-Type": "application/json"},
        )
        return _accepted(response, f"Presigning an upload of {filename}")

    def _create(
        self,
        path: str,
        *,
        body: bytes,
        headers: dict[str, str],
        query: dict[str, str] | None = None,
    ) -> ApiResponse:
        """A POST that creates a task, under one Idempotency-Key however often it is sent, so a
        retry after a lost answer never creates a second task."""
        sent = {**headers, "Idempotency-Key": uuid.uuid4().hex}
        attempt = 1
        while True:
            try:
                response = self.request("POST", path, query=query, body=body, headers=sent)
                if response.status not in _RETRIED_STATUSES or attempt == CREATE_ATTEMPTS:
                    return response
            except UserFacingError:
                if attempt == CREATE_ATTEMPTS:
                    raise
            time.sleep(CREATE_RETRY_PAUSE_SECONDS * attempt)
            attempt += 1

    def start_multipart(self, filename: str, size: int) -> dict[str, Any]:
        """POST /uploads/multipart: a task, an upload id and one presigned URL per part."""
        return self._post_json(
            "/uploads/multipart",
            {"filename": filename, "size": size},
            f"Starting a multipart upload of {filename}",
        )

    def complete_multipart(
        self, complete_path: str, upload_id: str, parts: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """POST /uploads/{id}/complete with every part's number and ETag."""
        return self._post_json(
            complete_path,
            {"upload_id": upload_id, "parts": parts},
            "Completing the multipart upload",
        )

    def _post_json(self, path: str, document: dict[str, Any], what: str) -> dict[str, Any]:
        response = self.request(
            "POST",
            path,
            body=json.dumps(document).encode(),
            headers={"Content-Type": "application/json"},
        )
        return _accepted(response, what)

    def task(self, task_id: str) -> dict[str, Any] | None:
        """GET /tasks/{id}; None while the task does not exist (yet)."""
        response = self.request("GET", f"/tasks/{task_id}")
        if response.status == 404:
            return None
        document = _accepted(response, f"Reading task {task_id}")
        return document


def post_presigned(presigned: dict[str, Any], data: bytes, filename: str) -> None:
    """The presigned POST of a small workbook held in memory: form fields first, then the file."""
    upload = presigned["upload"]
    boundary = f"sheetflow-{uuid.uuid4().hex}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in upload["fields"].items()
    ]
    parts.append(
        f"--{boundary}\r\nContent-Disposition: form-data; "
        f'name="{upload["file_field"]}"; filename="{filename}"\r\n'
        f"Content-Type: {XLSX_MEDIA_TYPE}\r\n\r\n"
    )
    body = "".join(parts).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    response = http_request(
        "POST", upload["url"], body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    if not response.ok:
        raise UserFacingError(
            f"S3 refused the upload of {filename}: HTTP {response.status}, "
            f"{response.body.decode(errors='replace').strip()[:500]}",
            f"The largest accepted file is {presigned.get('max_bytes')} bytes.",
        )


def _accepted(response: ApiResponse, what: str) -> dict[str, Any]:
    document = response.json()
    if response.status == 403:
        raise UserFacingError(
            f"{what} failed: HTTP 403, the API refused the API key ({response.error_text()}).",
            f"Set {api_keys.API_KEY_ENV} to a key of the stack's usage plan, or unset it to use "
            "the stack's default key.",
        )
    if not response.ok or not isinstance(document, dict):
        raise UserFacingError(
            f"{what} failed: HTTP {response.status}, {response.error_text()}",
            "See the API's log with `sheetflow logs api`.",
        )
    return document
