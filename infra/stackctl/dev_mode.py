"""Dev mode: every function of the deployed stack runs the working tree, and back.

Entering switches each function's code to LocalStack's hot-reloading code (S3Bucket `hot-reload`,
S3Key the function's CodeUri folder as an absolute path) and adds a hot-reloaded layer holding
the packages of functions/requirements.txt. The local executor then runs the folder directly and
replaces a runtime whose files changed, so a saved change runs at the next invocation.

template.yaml is not touched: the switch is made through the Lambda API on the deployed
functions. Before switching, each function's packaged code (the zip LocalStack holds) and its
layers are saved under `.local/dev-mode/<stack>/`; leaving puts them back. The saved state
survives the command, so `sheetflow dev --off` restores after a crash or from another shell.
One session per stack (`session()`): a second one, entering while the first leaves, would save
the half-restored functions as their packaged state.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stackctl import aws, dev_dependencies, paths, stack
from stackctl.errors import UserFacingError
from stackctl.template_file import load_template

HOT_RELOAD_BUCKET = "hot-reload"
FUNCTION_TYPE = "AWS::Lambda::Function"


@dataclass
class SavedFunction:
    """What a function ran before dev mode: its packaged code (a zip on disk) and its layers."""

    name: str
    code_zip: str
    layers: list[str]


@dataclass
class Switched:
    name: str
    folder: Path
    runtime: str


def state_dir(stack_name: str) -> Path:
    return paths.instance_dir() / "dev-mode" / stack_name


def _state_file(stack_name: str) -> Path:
    return state_dir(stack_name) / "functions.json"


@contextlib.contextmanager
def session(stack_name: str) -> Iterator[None]:
    """Held by a running `sheetflow dev` for its whole session, and by `--off` while it restores:
    UserFacingError when another holds it. The lock dies with its process, even when killed."""
    state_dir(stack_name).mkdir(parents=True, exist_ok=True)
    with (state_dir(stack_name) / "session.lock").open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            raise UserFacingError(
                f"Another `sheetflow dev` (pid {holder}) is running for stack {stack_name!r}.",
                "Stop it with Ctrl-C (it restores the packaged code itself), then retry.",
            ) from None
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        yield


def _load_state(stack_name: str) -> dict[str, SavedFunction]:
    try:
        raw = json.loads(_state_file(stack_name).read_text())
    except FileNotFoundError:
        return {}
    return {name: SavedFunction(**saved) for name, saved in raw.items()}


def _store_state(stack_name: str, saved: dict[str, SavedFunction]) -> None:
    state_dir(stack_name).mkdir(parents=True, exist_ok=True)
    _state_file(stack_name).write_text(
        json.dumps({name: asdict(s) for name, s in saved.items()}, indent=2)
    )


def code_folders(template: Path) -> dict[str, Path]:
    """Each function's source folder (its CodeUri, or the Globals one), by logical id."""
    document = load_template(template)
    default = ((document.get("Globals") or {}).get("Function") or {}).get("CodeUri")
    folders: dict[str, Path] = {}
    for logical_id, resource in (document.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        code_uri = (resource.get("Properties") or {}).get("CodeUri", default)
        if isinstance(code_uri, str):
            folders[logical_id] = (template.parent / code_uri).resolve()
    return folders


def stack_functions(stack_name: str) -> dict[str, str]:
    """The stack's Lambda functions: logical id -> deployed function name."""
    stack.outputs(stack_name)  # a clear error when LocalStack is down or nothing is deployed
    paginator = aws.client("cloudformation").get_paginator("list_stack_resources")
    functions: dict[str, str] = {}
    for page in paginator.paginate(StackName=stack_name):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] == FUNCTION_TYPE:
                functions[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]
    return functions


def _is_hot_reloading(function: dict[str, Any]) -> bool:
    return str(function["Code"].get("Location", "")).startswith("file://")


def _save_packaged_code(stack_name: str, function: dict[str, Any]) -> SavedFunction:
    config = function["Configuration"]
    name = config["FunctionName"]
    target = state_dir(stack_name) / f"{name}.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    location = function["Code"]["Location"]
    if not str(location).startswith(("http://", "https://")):
        raise ValueError(f"unexpected code location {location!r} for {name}")
    # bandit B310: the scheme is checked above
    with urllib.request.urlopen(location, timeout=60) as response:  # nosec B310
        target.write_bytes(response.read())
    layers = [layer["Arn"] for layer in config.get("Layers", [])]
    return SavedFunction(name=name, code_zip=str(target), layers=layers)


def _wait_updated(lambda_client: Any, name: str) -> None:
    lambda_client.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300}
    )


def _dependencies_layer(lambda_client: Any, runtime: str) -> str:
    """A layer version of the host folder with the functions' packages (installed if needed)."""
    dev_dependencies.install(runtime)
    arn: str = lambda_client.publish_layer_version(
        LayerName=f"sheetflow-dev-dependencies-{runtime.replace('.', '')}",
        Description="functions/requirements.txt for dev mode (hot-reloaded host folder)",
        Content={
            "S3Bucket": HOT_RELOAD_BUCKET,
            "S3Key": str(dev_dependencies.layer_folder(runtime)),
        },
        CompatibleRuntimes=[runtime],
    )["LayerVersionArn"]
    return arn


def enter(stack_name: str, template: Path) -> list[Switched]:
    """Switches every function of the stack to its folder in the working tree."""
    folders = code_folders(template)
    functions = stack_functions(stack_name)
    missing = sorted(set(functions) - set(folders))
    if missing:
        raise UserFacingError(
            f"No source folder in {template.name} for {', '.join(missing)}.",
            "Dev mode runs functions whose CodeUri is a folder of this project.",
        )
    lambda_client = aws.client("lambda")
    saved = _load_state(stack_name)
    switched: list[Switched] = []
    for logical_id, name in sorted(functions.items()):
        function = lambda_client.get_function(FunctionName=name)
        if not _is_hot_reloading(function):
            saved[name] = _save_packaged_code(stack_name, function)
            _store_state(stack_name, saved)
        elif name not in saved:
            # Entering again keeps what was saved; a host folder set by someone else is no
            # packaged code to come back to.
            raise UserFacingError(
                f"Function {name} already runs a host folder, and no packaged code was saved.",
                "Redeploy the stack (`make deploy`) to give it its packaged code, then retry.",
            )
        runtime = function["Configuration"]["Runtime"]
        switched.append(Switched(name=name, folder=folders[logical_id], runtime=runtime))
    layers = {
        runtime: _dependencies_layer(lambda_client, runtime)
        for runtime in sorted({function.runtime for function in switched})
    }

    def switch(function: Switched) -> None:
        name = function.name
        lambda_client.update_function_configuration(
            FunctionName=name, Layers=[*saved[name].layers, layers[function.runtime]]
        )
        _wait_updated(lambda_client, name)
        lambda_client.update_function_code(
            FunctionName=name, S3Bucket=HOT_RELOAD_BUCKET, S3Key=str(function.folder)
        )
        _wait_updated(lambda_client, name)

    _for_each(switch, switched)
    return switched


def leave(stack_name: str) -> list[str]:
    """Puts the packaged code and layers back; the names of the functions restored."""
    saved = _load_state(stack_name)
    lambda_client = aws.client("lambda")

    def restore(previous: SavedFunction) -> str | None:
        name = previous.name
        try:
            function = lambda_client.get_function(FunctionName=name)
        except lambda_client.exceptions.ResourceNotFoundException:
            return None  # gone (LocalStack restarted, or the stack deleted): nothing to restore
        if not _is_hot_reloading(function):
            return None  # redeployed meanwhile: it runs packaged code already
        # Layers first: a function back on packaged code has its packaged layers too.
        lambda_client.update_function_configuration(FunctionName=name, Layers=previous.layers)
        _wait_updated(lambda_client, name)
        lambda_client.update_function_code(
            FunctionName=name, ZipFile=Path(previous.code_zip).read_bytes()
        )
        _wait_updated(lambda_client, name)
        return name

    restored = [name for name in _for_each(restore, list(saved.values())) if name]
    for saved_zip in state_dir(stack_name).glob("*.zip"):
        saved_zip.unlink()
    _state_file(stack_name).unlink(missing_ok=True)
    return sorted(restored)


def _for_each[T, R](work: Callable[[T], R], items: list[T]) -> list[R]:
    """Runs `work` on every item at once: each function's update waits on LocalStack, not us."""
    with ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
        return list(pool.map(work, items))


def is_active(stack_name: str) -> bool:
    return _state_file(stack_name).exists()
