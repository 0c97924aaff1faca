"""`sam build` and `samlocal deploy` against the local stack, from the project's own SAM CLI."""

from __future__ import annotations

import os

# bandit B404: runs the project's own SAM CLI and find-python.sh
import subprocess  # nosec B404
import tomllib
from collections.abc import Mapping
from pathlib import Path

from stackctl import localstack, paths
from stackctl.errors import UserFacingError

REGION = "us-east-1"
# The samconfig.toml environment of the local stack.
SAMCONFIG_ENV = "local"


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
        cwd=_build_workdir(build_dir),
        what="sam build",
    )
    return build_dir / "template.yaml"


def _build_workdir(build_dir: Path) -> Path:
    """A cached build keeps dependencies in `.aws-sam/deps` under its working folder and deletes
    the ones its own build graph does not name: builds sharing a folder (two stacks, or two
    LocalStacks, built at once) would delete each other's. Relative paths in the template still
    resolve from the template's folder."""
    workdir = build_dir.parent / f"{build_dir.name}-work"
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir


def deploy(
    built_template: Path, stack_name: str, parameters: Mapping[str, str] | None = None
) -> None:
    _run(
        deploy_command(built_template, stack_name, samconfig(), parameters or {}),
        cwd=built_template.parent,
        what=f"samlocal deploy of stack {stack_name}",
    )


def deploy_command(
    built_template: Path, stack_name: str, config: Path, parameters: Mapping[str, str]
) -> list[str]:
    """samlocal deploy with the `local` environment of samconfig.toml; `parameters` add to its
    parameter_overrides (SAM itself would replace them) and win where both name one."""
    args = [
        "samlocal",
        "deploy",
        "--config-file",
        str(config),
        "--config-env",
        SAMCONFIG_ENV,
        "--template-file",
        str(built_template),
        "--stack-name",
        stack_name,
        "--region",
        REGION,
    ]
    merged = {**configured_parameters(config), **parameters}
    if merged:
        args += ["--parameter-overrides", *(f"{k}={v}" for k, v in merged.items())]
    return args


def samconfig() -> Path:
    return paths.project_root() / "samconfig.toml"


def configured_parameters(config: Path) -> dict[str, str]:
    """The `local` environment's parameter_overrides ("A=1 B=2") as a mapping."""
    settings = tomllib.loads(config.read_text())
    raw = settings.get(SAMCONFIG_ENV, {}).get("deploy", {}).get("parameters", {})
    return parse_parameter_overrides(str(raw.get("parameter_overrides", "")))


def parse_parameter_overrides(text: str | list[str]) -> dict[str, str]:
    """`Name=Value` pairs, space separated or as a list; UserFacingError for anything else."""
    pairs = text.split() if isinstance(text, str) else text
    parsed: dict[str, str] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise UserFacingError(
                f"Parameter override {pair!r} is not Name=Value.",
                "Write them as --parameter-overrides MaxReceiveCount=5 WorkerTimeout=300.",
            )
        parsed[name] = value
    return parsed
