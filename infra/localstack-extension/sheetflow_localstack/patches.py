"""Where LocalStack is laxer than AWS on the Lambda invoke path, AWS's behaviour, applied at start.

Registered as a `localstack.hooks.on_infra_start` hook, so it runs in LocalStack's process before
any request is served. Two changes, each the smallest wrapper around one LocalStack function:

- Invoke refuses a payload over Lambda's limit with RequestEntityTooLargeException (HTTP 413)
  before the function runs. LocalStack's service layer is the one place every invocation passes
  (the Lambda API, API Gateway, event source mappings, EventBridge, S3 and SNS notifications).
- An API Gateway Lambda proxy integration whose invocation the Lambda API rejected answers 500,
  as AWS documents; LocalStack answers 502, which AWS uses for a function that ran and failed.

The response limit belongs to the runtime, so the executor applies it (see executor.py).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from localstack.runtime import hooks

from sheetflow_localstack.payload_limits import request_too_large_message

LOG = logging.getLogger(__name__)


@hooks.on_infra_start()  # type: ignore[untyped-decorator]
def enforce_lambda_payload_limits() -> None:
    _limit_invoke_requests()
    _answer_rejected_proxy_invocations_with_500()


def _limit_invoke_requests() -> None:
    from localstack.services.lambda_.invocation.lambda_models import (  # noqa: PLC0415
        RequestEntityTooLargeException,
    )
    from localstack.services.lambda_.invocation.lambda_service import (  # noqa: PLC0415
        LambdaService,
    )
    from localstack.utils.patch import Patch  # noqa: PLC0415

    signature = inspect.signature(LambdaService.invoke)

    def invoke(target: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        payload = arguments.get("payload") or b""
        message = request_too_large_message(len(payload), arguments.get("invocation_type"))
        if message:
            raise RequestEntityTooLargeException(message)
        return target(self, *args, **kwargs)

    Patch.function(LambdaService.invoke, invoke).apply()


def _answer_rejected_proxy_invocations_with_500() -> None:
    from botocore.exceptions import ClientError  # noqa: PLC0415
    from localstack.services.apigateway.next_gen.execute_api.gateway_response import (  # noqa: PLC0415
        IntegrationFailureError,
    )
    from localstack.services.apigateway.next_gen.execute_api.integrations.aws import (  # noqa: PLC0415
        RestApiAwsProxyIntegration,
    )
    from localstack.utils.patch import Patch  # noqa: PLC0415

    def invoke(target: Callable[..., Any], self: Any, context: Any) -> Any:
        try:
            return target(self, context)
        except IntegrationFailureError as failure:
            # LocalStack wraps the Lambda API's refusal (a ClientError) into a 502.
            if isinstance(failure.__cause__, ClientError) and failure.status_code == 502:
                raise IntegrationFailureError(
                    "Internal server error", status_code=500
                ) from failure.__cause__
            raise

    Patch.function(RestApiAwsProxyIntegration.invoke, invoke).apply()
