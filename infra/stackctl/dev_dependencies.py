"""The functions' third-party packages for dev mode, installed once on the host as a layer folder.

`sam build` puts functions/requirements.txt into each deployment package. In dev mode the code
comes from the working tree instead, so the same packages are installed once into
`.local/dev-deps/<runtime>/python/` (the layout of a Lambda layer, AWS's /opt/python) with the
interpreter of that runtime, and reinstalled only when requirements.txt changes.
"""

from __future__ import annotations

import hashlib
import shutil

# bandit B404: runs the project's own uv to install a runtime's dependencies
import subprocess  # nosec B404
from pathlib import Path

from stackctl import paths
from stackctl.errors import UserFacingError

STAMP_FILE = "requirements.sha256"


def requirements_file() -> Path:
    return paths.project_root() / "functions" / "requirements.txt"


def layer_folder(runtime: str) -> Path:
    """The folder a hot-reloaded layer points to (its `python/` holds the packages)."""
    return paths.state_dir() / "dev-deps" / runtime


def requirements_hash() -> str:
    return hashlib.sha256(requirements_file().read_bytes()).hexdigest()


def is_current(runtime: str) -> bool:
    stamp = layer_folder(runtime) / STAMP_FILE
    return stamp.exists() and stamp.read_text().strip() == requirements_hash()


def install(runtime: str) -> bool:
    """Installs the packages for `runtime` unless already current; True when it installed."""
    if is_current(runtime):
        return False
    interpreter = paths.venv(f"rt-{runtime}") / "bin" / "python"
    uv = paths.venv("tools") / "bin" / "uv"
    if not interpreter.exists() or not uv.exists():
        raise UserFacingError(
            f"No local Lambda runtime for {runtime} at {interpreter}.",
            "Run `make install` to prepare the local runtimes.",
        )
    folder = layer_folder(runtime)
    staging = folder.with_name(f"{runtime}.installing")
    shutil.rmtree(staging, ignore_errors=True)
    # bandit B603: the venv's uv with fixed arguments, no shell
    result = subprocess.run(  # nosec B603
        [
            str(uv),
            "pip",
            "install",
            "--quiet",
            # Bytecode written now, not by the first runtime (that would be a change to watch).
            "--compile-bytecode",
            "--python",
            str(interpreter),
            "--target",
            str(staging / "python"),
            "-r",
            str(requirements_file()),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise UserFacingError(
            f"Installing {requirements_file()} for {runtime} failed:\n{result.stderr.strip()}",
            "Check the requirements file and your connection to the package index.",
        )
    (staging / STAMP_FILE).write_text(requirements_hash() + "\n")
    # Swapped in whole: a running function never sees half an install.
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return True
