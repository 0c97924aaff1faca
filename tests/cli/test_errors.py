"""What the CLI says when something is missing: LocalStack, the stack, the file. Always one
`error:` line with the command that fixes it, exit code 1, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from stackctl import paths
from tests.support.cli import CliRunner
from tests.support.large_workbook import padded_workbook

CLI = paths.venv("dev") / "bin" / "sheetflow"
EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def localstack_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """Points the CLI at a port where nothing listens."""
    monkeypatch.setenv("SHEETFLOW_PORT", str(free_port()))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    path = tmp_path / "book.xlsx"
    path.write_bytes(b"PK\x03\x04 not read before the stack is found")
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["redrive"],
        ["cleanup"],
        ["demo"],
        ["logs", "worker"],
        ["status", "0f8fad5bd9cb469fa16570867728950e"],
        ["send", str(EVENTS_DIR / "api-health.json")],
    ],
    ids=lambda args: args[0],
)
def test_commands_name_make_deploy_when_localstack_is_down(
    args: list[str], run_cli: CliRunner, localstack_down: None
) -> None:
    result = run_cli(*args)
    assert result.code == 1
    assert "error: LocalStack is not running at http://127.0.0.1:" in result.err
    assert "make deploy" in result.err
    assert result.out == ""


def test_upload_names_make_deploy_when_localstack_is_down(
    run_cli: CliRunner, localstack_down: None, workbook: Path
) -> None:
    result = run_cli("upload", str(workbook))
    assert result.code == 1
    assert "LocalStack is not running" in result.err and "make deploy" in result.err


def test_deploy_names_make_up_when_localstack_is_down(
    run_cli: CliRunner, localstack_down: None
) -> None:
    result = run_cli("deploy")
    assert result.code == 1
    assert "LocalStack is not running" in result.err and "make up" in result.err


def test_the_installed_command_prints_no_traceback(localstack_down: None) -> None:
    # As a user runs it: the console script, in its own process.
    finished = subprocess.run(
        [str(CLI), "redrive"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 1
    assert finished.stderr.startswith("error: LocalStack is not running")
    assert "Traceback" not in finished.stderr


def test_upload_of_a_missing_file_fails_before_any_aws_call(
    run_cli: CliRunner, localstack_down: None, tmp_path: Path
) -> None:
    # LocalStack is down too: the file is the first thing checked.
    result = run_cli("upload", str(tmp_path / "nowhere.xlsx"), "--wait")
    assert result.code == 1
    assert "nowhere.xlsx: no such file." in result.err
    assert "LocalStack" not in result.err


def test_upload_of_a_text_file_is_refused_by_its_extension(
    run_cli: CliRunner, localstack_down: None, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a workbook")
    result = run_cli("upload", str(notes))
    assert result.code == 1
    assert "notes.txt: only .xlsx workbooks are processed (got '.txt')" in result.err


def test_upload_of_a_file_too_large_for_the_api_points_to_presign(
    run_cli: CliRunner, localstack_down: None, tmp_path: Path
) -> None:
    # A 4.5 MB workbook exceeds POST /uploads' 4 MiB: refused before LocalStack is needed
    path = tmp_path / "big.xlsx"
    padded_workbook(path, 4_500_000)
    result = run_cli("upload", str(path), "--via", "api")
    assert result.code == 1
    assert "POST /uploads takes at most 4,194,304 bytes" in result.err
    assert "--via presign" in result.err


def test_send_of_a_file_without_a_function_prefix_is_refused(
    run_cli: CliRunner, localstack_down: None, tmp_path: Path
) -> None:
    event = tmp_path / "mystery.json"
    event.write_text("{}")
    result = run_cli("send", str(event))
    assert result.code == 1
    assert "mystery.json: cannot tell which function this event is for." in result.err
    assert "worker-*.json" in result.err


@pytest.mark.localstack
@pytest.mark.parametrize("args", [["redrive"], ["upload", "BOOK"], ["logs", "api"]])
def test_commands_name_make_deploy_when_the_stack_is_missing(
    args: list[str],
    run_cli: CliRunner,
    localstack_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    workbook: Path,
) -> None:
    monkeypatch.setenv("SHEETFLOW_STACK", "does-not-exist")
    result = run_cli(*[str(workbook) if arg == "BOOK" else arg for arg in args])
    assert result.code == 1
    assert "error: The stack 'does-not-exist' is not deployed" in result.err
    assert "make deploy" in result.err


@pytest.mark.localstack
def test_status_without_the_stack_still_reports_localstack(
    run_cli: CliRunner, localstack_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHEETFLOW_STACK", "does-not-exist")
    result = run_cli("status")
    # LocalStack's state decides the exit code; the missing stack is a hint, not a failure.
    assert result.code == 0
    assert "LocalStack: running" in result.out
    assert "Stack does-not-exist: The stack 'does-not-exist' is not deployed" in result.out
    assert "make deploy" in result.out
