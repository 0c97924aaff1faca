"""What the CLI tests share: their stack's name and the in-process runner's result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

CLI_TEST_STACK = "sheetflow-cli-test"


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


# The `run_cli` fixture: `run_cli("status")` runs `sheetflow status` in-process.
CliRunner = Callable[..., CliResult]
