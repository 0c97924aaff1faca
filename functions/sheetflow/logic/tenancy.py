"""Who a request comes from, and which tasks and objects are theirs.

Every API route but /health and the dashboard's page requires an API key (API Gateway checks it
before the function runs and puts the key's id in `requestContext.identity.apiKeyId`). The key's
id is the client's identity and the owner written on each task it creates; its objects live under
`uploads/<owner>/` and `received/<owner>/`. A client sees only its own tasks: another client's
task is "not found", exactly like one that never existed.

A file put straight into the bucket (the operator's path: it needs AWS credentials, not an API
key) belongs to the client whose prefix it is under, `uploads/<owner>/...`; anything else under
`uploads/` (and every task from before owners were recorded) belongs to the operator, whom no
API key speaks for: such tasks are read with AWS credentials (`sheetflow status`, the table).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sheetflow.logic.errors import RequestRejectedError

# The owner of tasks that no client key created: files put straight into the bucket outside any
# client prefix (the canary's among them).
OPERATOR_OWNER = "operator"

# API Gateway key ids are short alphanumerics; anything else in their place is not a client
# prefix (a task id, 32 hex characters, is told apart by the callers).
_OWNER_PATTERN = re.compile(r"^[A-Za-z0-9]{1,64}$")


def is_owner_id(value: str) -> bool:
    return bool(_OWNER_PATTERN.match(value)) and value != OPERATOR_OWNER


@dataclass(frozen=True)
class Caller:
    """The client behind a request: the owner its tasks get and the only tasks it sees."""

    owner: str

    def may_see(self, task_owner: str | None) -> bool:
        return (task_owner or OPERATOR_OWNER) == self.owner


def caller_from_key_id(api_key_id: str | None) -> Caller:
    """The caller of a request whose API key API Gateway validated as `api_key_id`.

    No key id means the function was reached without API Gateway's key check (a route that
    does not require one, or a direct invocation): refused, never treated as anonymous access.
    """
    if not api_key_id:
        raise RequestRejectedError(
            "API_KEY_REQUIRED",
            "This route needs an API key: send it in the x-api-key header "
            "(`sheetflow demo` prints one; see the README, 'API keys').",
        )
    if not is_owner_id(api_key_id):
        raise RequestRejectedError(
            "API_KEY_REQUIRED", f"The API key id {api_key_id[:80]!r} is not one API Gateway issues."
        )
    return Caller(owner=api_key_id)
