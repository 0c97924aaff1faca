"""The CLI as a user runs it, against a stack of its own (`sheetflow-cli-test`).

The stack is deployed once per session. A deploy of an unchanged stack still takes 20 to 50 s, so it
is skipped when the live stack was deployed from the same template and function code (a
fingerprint kept under .local/); after any change, or a LocalStack restart, it is redeployed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackctl import aws, cli, paths, stack
from stackctl.errors import UserFacingError
from stackctl.stack import StackOutputs
from tests.support.cli import CLI_TEST_STACK, CliResult, CliRunner
from tests.support.waiting import wait_until

# The canary exists (its sample event is sent to it) but fires only hourly, so its workbooks
# stay out of the task counts and queues the tests look at.
CLI_STACK_PARAMETERS = {"CanaryIntervalMinutes": "60"}
POLLER_SETTLE_SECONDS = 2.5


def deployed_code_fingerprint() -> str:
    """A hash of everything a deploy ships: the template and the functions' sources."""
    root = paths.project_root()
    digest = hashlib.sha256()
    digest.update(repr(sorted(CLI_STACK_PARAMETERS.items())).encode())
    files = [root / "template.yaml", root / "functions" / "requirements.txt"]
    files += sorted((root / "functions" / "sheetflow").rglob("*.py"))
    for file in files:
        digest.update(str(file.relative_to(root)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _fingerprint_file() -> Path:
    return paths.instance_dir() / f"{CLI_TEST_STACK}.fingerprint"


@pytest.fixture(scope="session")
def cli_stack(localstack_endpoint: str) -> StackOutputs:
    fingerprint = deployed_code_fingerprint()
    recorded = _fingerprint_file().read_text() if _fingerprint_file().exists() else ""
    if recorded == fingerprint:
        try:
            return stack.outputs(CLI_TEST_STACK)
        except UserFacingError:
            pass  # recorded, but gone (LocalStack restarted): deploy again
    outputs = stack.deploy(CLI_TEST_STACK, CLI_STACK_PARAMETERS)
    _fingerprint_file().write_text(fingerprint)
    return outputs


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> CliRunner:
    """Runs `sheetflow ARGS…` in-process; returns exit code and what it printed."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()  # start from a clean slate
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def on_cli_stack(cli_stack: StackOutputs, monkeypatch: pytest.MonkeyPatch) -> StackOutputs:
    """The CLI talks to the test stack for the duration of the test."""
    monkeypatch.setenv("SHEETFLOW_STACK", CLI_TEST_STACK)
    return cli_stack


@pytest.fixture(scope="module")
def paused_queue_consumers(cli_stack: StackOutputs) -> Iterator[None]:
    """Disables the SQS triggers of the worker and the dead-letter function for a whole module,
    so messages stay where its tests put them; enables them again afterwards."""
    lambda_client = aws.client("lambda")
    functions = [cli_stack["WorkerFunctionName"], cli_stack["DeadLetterFunctionName"]]
    mappings = [
        mapping["UUID"]
        for function in functions
        for mapping in lambda_client.list_event_source_mappings(FunctionName=function)[
            "EventSourceMappings"
        ]
    ]
    _set_mappings(lambda_client, mappings, enabled=False)
    try:
        yield
    finally:
        _set_mappings(lambda_client, mappings, enabled=True)


def _set_mappings(lambda_client: Any, uuids: list[str], enabled: bool) -> None:
    wanted = "Enabled" if enabled else "Disabled"
    for uuid in uuids:
        lambda_client.update_event_source_mapping(UUID=uuid, Enabled=enabled)
    for uuid in uuids:

        def settled(uuid: str = uuid) -> bool:
            return bool(lambda_client.get_event_source_mapping(UUID=uuid)["State"] == wanted)

        wait_until(settled, timeout=30, what=f"event source mapping {uuid} {wanted}")
    if not enabled:
        # LocalStack reports `Disabled` at once, but the superseded poller finishes the receive
        # it is in (up to the worker's 1 s batching window) and may still take a message.
        time.sleep(POLLER_SETTLE_SECONDS)
