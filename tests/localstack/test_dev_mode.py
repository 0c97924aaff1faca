"""`sheetflow dev` on a deployed SAM stack: its function runs the working tree, a saved change
runs at the next invocation, packages come from the dev-dependencies layer, and leaving dev mode
puts the packaged code back. Works on a copy of a small SAM app, never on the project's code."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackctl import dev_mode, sam
from tests.support.aws import AwsClientFactory

pytestmark = [pytest.mark.localstack, pytest.mark.slow]

APP = Path(__file__).with_name("sam_app")

HANDLER = """
import os

import openpyxl

GREETING = {greeting!r}


def handler(event, context):
    return {{"greeting": GREETING, "openpyxl": openpyxl.__file__, "pid": os.getpid()}}
"""


@pytest.fixture
def deployed_app(aws: AwsClientFactory, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A copy of the SAM app using a package from requirements.txt, built and deployed."""
    app = tmp_path / "app"
    shutil.copytree(APP, app)
    (app / "hello" / "app.py").write_text(HANDLER.format(greeting="packaged"))
    (app / "hello" / "requirements.txt").write_text("openpyxl==3.1.5\n")
    stack = f"dev-mode-{uuid.uuid4().hex[:8]}"
    sam.deploy(sam.build(app / "template.yaml", tmp_path / "build"), stack)
    yield stack, app
    if dev_mode.is_active(stack):
        dev_mode.leave(stack)
    aws("cloudformation").delete_stack(StackName=stack)


def invoke(aws: AwsClientFactory, name: str) -> dict[str, Any]:
    response = aws("lambda").invoke(FunctionName=name, Payload=b"{}")
    body: dict[str, Any] = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


def test_dev_mode_runs_the_working_tree_and_leaving_restores_the_package(
    aws: AwsClientFactory, deployed_app: tuple[str, Path]
) -> None:
    stack, app = deployed_app
    outputs = aws("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
    name = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "HelloFunctionName")
    packaged = invoke(aws, name)
    assert packaged["greeting"] == "packaged"

    # When dev mode is entered
    switched = dev_mode.enter(stack, app / "template.yaml")
    # Then the function runs its folder of the working tree, with packages from the dev layer
    assert [(s.name, s.folder) for s in switched] == [(name, (app / "hello").resolve())]
    in_dev = invoke(aws, name)
    assert in_dev["greeting"] == "packaged"
    assert "/.local/dev-deps/python3.13/python/openpyxl/" in in_dev["openpyxl"]

    # When a file is saved, then the very next invocation runs it
    saved = time.monotonic()
    (app / "hello" / "app.py").write_text(HANDLER.format(greeting="edited"))
    edited = invoke(aws, name)
    print(f"save -> effect in dev mode: {time.monotonic() - saved:.3f} s")
    assert edited["greeting"] == "edited"

    # When dev mode is left, then the packaged code runs again, with its own packages
    assert dev_mode.leave(stack) == [name]
    restored = invoke(aws, name)
    assert restored["greeting"] == "packaged"
    assert "/.local/dev-deps/" not in restored["openpyxl"]
    assert not dev_mode.is_active(stack)
