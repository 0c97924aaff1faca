"""`sam build` and `samlocal deploy` against the local stack, from the project's own SAM CLI."""

from __future__ import annotations

import os

# bandit B404: runs the project's own SAM CLI and find-python.sh
import subprocess  # nosec B404
from collections.abc import Mapping
from pathlib import Path

from stackctl import localstack, paths
from stackctl.errors import UserFacingError

REGION = "us-east-1"


def python313_dir() -> Path:
    """`sam build` checks for a real python3.13 on PATH; a pyenv shim fails that check."""
    finder = paths.project_root() / "infra" / "find-python.sh"
    # bandit B603: the project's own script, no arguments, no shell
    result = subprocess.run([str(finder)], capture_output=True, text=True, check=False)  # nosec B603
    if result.returncode != 0:
        raise UserFacingError(result.stderr.strip() or "Python 3.13 was not found.")
    return Path(result.stdout.strip()).parent


def environment() -> dict[str, str]:
    sam_bin = paths.venv("sam") / "bin"
    return {
        **os.environ,
        "PATH": f"{python313_dir()}:{sam_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "AWS_ENDPOINT_URL": localstack.endpoint_url(),
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", REGION),
        "AWS_REGION": os.environ.get("AWS_DEFAULT_REGION", REGION),
        "SAM_CLI_TELEMETRY": "0",
        "SAM_CLI_DISABLE_UPDATE_CHECK": "1",  # checking needs the internet
    }


def _run(args: list[str], cwd: Path, what: str) -> None:
    executable = paths.venv("sam") / "bin" / args[0]
    if not executable.exists():
        raise UserFacingError(
            "The SAM CLI is not installed in this project yet.", "Run `make install` first."
        )
    # bandit B603: the venv's sam, arguments from this CLI, no shell
    result = subprocess.run(  # nosec B603
        [str(executable), *args[1:]],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        raise UserFacingError(f"{what} failed:\n" + "\n".join(output[-25:]))


def build(template: Path, build_dir: Path) -> Path:
    """Builds the template; returns the built template's path."""
    _run(
        [
            "sam",
            "build",
            "--template-file",
            str(template),
            "--build-dir",
            str(build_dir),
            "--cached",
            "--cache-dir",
            str(build_dir.parent / f"{build_dir.name}-cache"),
        ],
        cwd=template.parent,
        what="sam build",
    )
    return build_dir / "template.yaml"


def deploy(
    built_template: Path, stack_name: str, parameters: Mapping[str, str] | None = None
) -> None:
    args = [
        "samlocal",
        "deploy",
        "--template-file",
        str(built_template),
        "--stack-name",
        stack_name,
        "--resolve-s3",
        "--no-confirm-changeset",
        "--no-fail-on-empty-changeset",
        "--capabilities",
        "CAPABILITY_IAM",
        "CAPABILITY_AUTO_EXPAND",
        "--region",
        REGION,
    ]
    if parameters:
        args += ["--parameter-overrides", *(f"{k}={v}" for k, v in parameters.items())]
    _run(args, cwd=built_template.parent, what=f"samlocal deploy of stack {stack_name}")
