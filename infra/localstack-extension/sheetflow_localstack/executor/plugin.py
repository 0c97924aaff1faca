"""Registers the host-process executor under the name `local` (LAMBDA_RUNTIME_EXECUTOR=local)."""

from typing import Any

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class LocalRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "local"

    def load(self, *args: Any, **kwargs: Any) -> type:
        # Imported on use: LocalStack lists plugins without loading each one's dependencies.
        from sheetflow_localstack.executor.executor import LocalRuntimeExecutor  # noqa: PLC0415

        return LocalRuntimeExecutor
