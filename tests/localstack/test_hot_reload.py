"""Hot reloading: a function whose code is a host folder (S3Bucket `hot-reload`) runs that folder,
and a saved change shows at the next invocation, without a deploy. Layers work too, zipped or
hot-reloaded, with AWS's /opt/python layout."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.aws import AwsClientFactory
from tests.support.lambda_zip import zip_of
from tests.support.lambdas import ROLE, FunctionFactory, wait_for_state

pytestmark = pytest.mark.localstack

HOT_RELOAD_BUCKET = "hot-reload"


def handler_source(version: str) -> str:
    return f"""
import os

VERSION = {version!r}


def handler(event, context):
    return {{"version": VERSION, "pid": os.getpid()}}
"""


def invoke(lambda_client: Any, name: str) -> dict[str, Any]:
    response = lambda_client.invoke(FunctionName=name, Payload=b"{}")
    body: dict[str, Any] = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


@pytest.fixture
def hot_function(aws: AwsClientFactory, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A function running the folder `code/` of a temporary directory; its name and folder."""
    lambda_client = aws("lambda")
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(handler_source("one"))
    name = f"hot-{uuid.uuid4().hex[:10]}"
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=ROLE,
        Handler="app.handler",
        Code={"S3Bucket": HOT_RELOAD_BUCKET, "S3Key": str(code)},
        Timeout=10,
    )
    wait_for_state(lambda_client, name)
    yield name, code
    lambda_client.delete_function(FunctionName=name)


def test_a_saved_change_runs_at_the_next_invocation(
    aws: AwsClientFactory, hot_function: tuple[str, Path]
) -> None:
    lambda_client = aws("lambda")
    name, code = hot_function
    # Given a warm environment running the first version
    first = invoke(lambda_client, name)
    assert first["version"] == "one"
    assert invoke(lambda_client, name)["pid"] == first["pid"]
    # When the file is saved with a change
    saved = time.monotonic()
    (code / "app.py").write_text(handler_source("two"))
    # Then the very next invocation runs the new code, in a fresh runtime
    second = invoke(lambda_client, name)
    print(f"save -> effect: {time.monotonic() - saved:.3f} s")
    assert second["version"] == "two"
    assert second["pid"] != first["pid"]
    # And without further changes the environment stays warm
    assert invoke(lambda_client, name)["pid"] == second["pid"]


def test_a_change_of_the_same_size_within_the_same_second_is_seen(
    aws: AwsClientFactory, hot_function: tuple[str, Path]
) -> None:
    lambda_client = aws("lambda")
    name, code = hot_function
    source = code / "app.py"
    assert invoke(lambda_client, name)["version"] == "one"
    first_save = source.stat()
    # Given a save of the same size, stamped within the same second as the previous one (what a
    # bytecode cache cannot tell apart)
    source.write_text(handler_source("two"))
    assert source.stat().st_size == first_save.st_size
    os.utime(source, ns=(first_save.st_atime_ns, first_save.st_mtime_ns + 1))
    # Then the next invocation still runs it
    assert invoke(lambda_client, name)["version"] == "two"
    # And running the code leaves no bytecode cache in the function's folder
    assert not (code / "__pycache__").exists()


def test_a_new_module_and_a_broken_save_are_picked_up(
    aws: AwsClientFactory, hot_function: tuple[str, Path]
) -> None:
    lambda_client = aws("lambda")
    name, code = hot_function
    invoke(lambda_client, name)
    # A syntax error saved in the handler fails the invocation as an import error does in AWS
    (code / "app.py").write_text("def handler(event, context):\n    return (\n")
    broken = lambda_client.invoke(FunctionName=name, Payload=b"{}")
    assert broken["FunctionError"] == "Unhandled"
    assert json.loads(broken["Payload"].read())["errorType"] == "Runtime.UserCodeSyntaxError"
    # Fixed, with a new module beside it, it runs again
    (code / "helper.py").write_text("VERSION = 'from helper'\n")
    (code / "app.py").write_text(
        "import helper\n\ndef handler(event, context):\n    return {'version': helper.VERSION}\n"
    )
    assert invoke(lambda_client, name)["version"] == "from helper"


SDK_USER = """
import boto3
import botocore.loaders

VERSION = {version!r}


def handler(event, context):
    # Counts the SDK's model files read while a DynamoDB client is created.
    read = []
    load_file = botocore.loaders.JSONFileLoader.load_file

    def counting(self, file_path):
        read.append(file_path)
        return load_file(self, file_path)

    botocore.loaders.JSONFileLoader.load_file = counting
    try:
        boto3.client("dynamodb")
    finally:
        botocore.loaders.JSONFileLoader.load_file = load_file
    return {{"version": VERSION, "model_files_read": len(read)}}
"""


def test_a_reloaded_runtime_finds_the_sdk_models_its_predecessor_loaded(
    aws: AwsClientFactory, hot_function: tuple[str, Path]
) -> None:
    lambda_client = aws("lambda")
    name, code = hot_function
    # Given a runtime whose function created a DynamoDB client, reading the service's model
    (code / "app.py").write_text(SDK_USER.format(version="one"))
    first = invoke(lambda_client, name)
    assert first["version"] == "one"
    assert first["model_files_read"] > 0
    # When a change is saved
    (code / "app.py").write_text(SDK_USER.format(version="two"))
    # Then the new runtime creates the same client without reading a model file again
    second = invoke(lambda_client, name)
    assert second == {"version": "two", "model_files_read": 0}


def layer_arn(lambda_client: Any, content: dict[str, Any]) -> str:
    arn: str = lambda_client.publish_layer_version(
        LayerName=f"layer-{uuid.uuid4().hex[:8]}",
        Content=content,
        CompatibleRuntimes=["python3.13"],
    )["LayerVersionArn"]
    return arn


LAYER_USER = """
import shared
from pinned import NAME


def handler(event, context):
    return {"shared": shared.WHERE, "pinned": NAME}
"""


def test_layers_are_importable_as_from_opt_python(
    aws: AwsClientFactory, create_function: FunctionFactory, tmp_path: Path
) -> None:
    lambda_client = aws("lambda")
    # Given a zipped layer with a package in python/lib/python3.13/site-packages and a module in
    # python/, and a later hot-reloaded layer overriding one of them
    zipped = layer_arn(
        lambda_client,
        {
            "ZipFile": zip_of(
                {
                    "python/shared.py": "WHERE = 'zipped layer'\n",
                    "python/lib/python3.13/site-packages/pinned/__init__.py": "NAME = 'pinned'\n",
                }
            )
        },
    )
    hot_folder = tmp_path / "layer"
    (hot_folder / "python").mkdir(parents=True)
    (hot_folder / "python" / "shared.py").write_text("WHERE = 'hot layer'\n")
    hot = layer_arn(lambda_client, {"S3Bucket": HOT_RELOAD_BUCKET, "S3Key": str(hot_folder)})
    name = create_function(code=zip_of({"user.py": LAYER_USER}), handler="user.handler")
    lambda_client.update_function_configuration(FunctionName=name, Layers=[zipped, hot])
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    # When it runs, then both layers are importable and the later one wins, as in /opt
    assert invoke(lambda_client, name) == {"shared": "hot layer", "pinned": "pinned"}


STATEFUL_APP = """
import counter

counter.IMPORTS += 1
VERSION = {version!r}


def handler(event, context):
    return {{"version": VERSION, "imports": counter.IMPORTS, "label": counter.LABEL}}
"""


def test_a_reload_starts_from_fresh_module_state_with_hot_layers(
    aws: AwsClientFactory, tmp_path: Path
) -> None:
    lambda_client = aws("lambda")
    # Given a function in a host folder using a module from a hot-reloaded layer, whose state
    # the function's code changes when it is imported
    layer = tmp_path / "layer"
    (layer / "python").mkdir(parents=True)
    (layer / "python" / "counter.py").write_text("IMPORTS = 0\nLABEL = 'first install'\n")
    (layer / "installed.txt").write_text("1\n")
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(STATEFUL_APP.format(version="one"))
    name = f"hot-{uuid.uuid4().hex[:10]}"
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=ROLE,
        Handler="app.handler",
        Code={"S3Bucket": HOT_RELOAD_BUCKET, "S3Key": str(code)},
        Layers=[layer_arn(lambda_client, {"S3Bucket": HOT_RELOAD_BUCKET, "S3Key": str(layer)})],
        Timeout=10,
    )
    try:
        wait_for_state(lambda_client, name)
        assert invoke(lambda_client, name) == {
            "version": "one",
            "imports": 1,
            "label": "first install",
        }
        # When the code changes twice, then each new import sees the layer's module as new
        for version in ("two", "three"):
            (code / "app.py").write_text(STATEFUL_APP.format(version=version))
            assert invoke(lambda_client, name) == {
                "version": version,
                "imports": 1,
                "label": "first install",
            }
        # When the layer is reinstalled (its top-level files change), the new packages are used
        (layer / "python" / "counter.py").write_text("IMPORTS = 0\nLABEL = 'second install'\n")
        (layer / "installed.txt").write_text("2\n")
        assert invoke(lambda_client, name)["label"] == "second install"
    finally:
        lambda_client.delete_function(FunctionName=name)
