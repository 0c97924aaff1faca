"""The base of every URL the API hands out, taken from the request the client made.

A link must work when the client follows it, so it is built from the address the client used,
never from configuration. The REST API's proxy event carries that address in pieces:

- the host: `requestContext.domainName` (the Host header, port included when one was given);
- the scheme: the `X-Forwarded-Proto` header (`https` on AWS; LocalStack sends `HTTP`);
- the path prefix: `requestContext.path` is the path the client used (stage or custom-domain base
  path included) and `path` the route's own part, so the prefix is what the first has in front
  of the second.

One case needs more: LocalStack's shared endpoint, `http://127.0.0.1:4566/_aws/execute-api/<apiId>/
<stage>/...`, names the API in the path, and the event carries neither that part of the path
nor a host naming the API (`domainName` is `127.0.0.1:4566`, `requestContext.path` is
`/<stage>/...`). A host whose first label is not the API id, reached at `/<stage>`, is that
form. The API's own host (`<apiId>.execute-api.<region>.amazonaws.com` on AWS,
`<apiId>.execute-api.localhost.localstack.cloud:4566` locally) and custom domains with a base
path other than the stage's name keep the prefix as the client sent it.
"""

from __future__ import annotations

from dataclasses import dataclass

SHARED_ENDPOINT_PREFIX = "/_aws/execute-api"


@dataclass(frozen=True)
class RequestAddress:
    """What a proxy event says about the address the client used."""

    domain_name: str | None
    api_id: str | None
    stage: str | None
    context_path: str | None  # requestContext.path: the path as the client sent it
    route_path: str  # the event's `path`: the part the API's routes match
    forwarded_proto: str | None


def base_url(address: RequestAddress) -> str:
    """The API's root as the client reached it (no trailing slash); a root-relative "" when
    the event names no host (a direct invoke), so links stay paths rather than wrong URLs."""
    if not address.domain_name:
        return ""
    scheme = (address.forwarded_proto or "https").strip().lower()
    if scheme not in {"http", "https"}:
        scheme = "https"
    return f"{scheme}://{address.domain_name}{_prefix(address)}"


def _prefix(address: RequestAddress) -> str:
    stage_prefix = f"/{address.stage}" if address.stage else ""
    context_path, route_path = address.context_path, address.route_path.rstrip("/")
    if context_path and route_path and context_path.rstrip("/").endswith(route_path):
        prefix = context_path.rstrip("/")[: len(context_path.rstrip("/")) - len(route_path)]
    elif context_path and not route_path:
        prefix = context_path.rstrip("/")
    else:
        prefix = stage_prefix
    host_label = (address.domain_name or "").split(".", 1)[0].split(":", 1)[0]
    if address.api_id and host_label != address.api_id and prefix == stage_prefix and prefix:
        return f"{SHARED_ENDPOINT_PREFIX}/{address.api_id}{prefix}"
    return prefix
