"""`dev`: the deployed functions run the working tree until Ctrl-C; `dev --off` restores them.

No build and no deploy per change: a saved file runs at the next invocation of any function of
the stack. Ctrl-C (or SIGTERM) leaves dev mode and puts the packaged code back.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from types import FrameType
from typing import Any

from stackctl import dev_dependencies, dev_mode, paths, stack
from stackctl.aws_errors import reported_as_user_errors

REQUIREMENTS_CHECK_SECONDS = 1.0


@reported_as_user_errors
def cmd_dev(args: argparse.Namespace) -> int:
    name = stack.stack_name()
    with dev_mode.session(name):
        if args.off:
            _leave(name)
            return 0
        return _run_session(name)


def _run_session(name: str) -> int:
    template = paths.project_root() / "template.yaml"
    if not stack.is_deployed(name):
        print(f"Stack {name!r} is not deployed yet: deploying it first …", flush=True)
        stack.deploy(name)
    began = time.monotonic()
    stopping = threading.Event()

    def stop(_signal: int, _frame: FrameType | None) -> None:
        stopping.set()

    # SIGINT too: a shell starts background jobs with it ignored, so Ctrl-C must be asked for.
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        switched = dev_mode.enter(name, template)
        print(f"Dev mode is on for stack {name!r} ({time.monotonic() - began:.1f} s):")
        for function in switched:
            print(f"  {function.name:<40} runs {function.folder}")
        runtimes = sorted({function.runtime for function in switched})
        for runtime in runtimes:
            print(
                f"  packages of {dev_dependencies.requirements_file().name} ({runtime}): "
                f"{dev_dependencies.layer_folder(runtime)}"
            )
        print("Save a file: the next invocation runs it. Ctrl-C leaves dev mode.", flush=True)
        _watch_requirements(runtimes, stopping)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print()
        _leave(name)
    return 0


def _watch_requirements(runtimes: list[str], stopping: threading.Event) -> None:
    """Reinstalls the packages when requirements.txt changes; runs until asked to stop."""
    while not stopping.wait(REQUIREMENTS_CHECK_SECONDS):
        for runtime in runtimes:
            if not dev_dependencies.is_current(runtime):
                print(f"requirements.txt changed: reinstalling the packages for {runtime} …")
                dev_dependencies.install(runtime)
                print("  done: the next invocation of each function starts on them.", flush=True)


def _leave(name: str) -> None:
    if not dev_mode.is_active(name):
        print(f"Dev mode is not on for stack {name!r}: nothing to restore.")
        return
    began = time.monotonic()
    restored = dev_mode.leave(name)
    print(
        f"Dev mode is off: {len(restored)} function(s) of {name!r} run their packaged code again "
        f"({time.monotonic() - began:.1f} s)."
    )


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "dev",
        help="hot reload: the deployed functions run the working tree until Ctrl-C",
        description=(
            "Switches every function of the deployed stack to the code in the working tree "
            "(functions/), with functions/requirements.txt installed once as a layer. A saved "
            "change runs at the next invocation; Ctrl-C restores the packaged code."
        ),
    )
    parser.add_argument(
        "--off", action="store_true", help="leave dev mode: restore the packaged code and layers"
    )
    parser.set_defaults(handler=cmd_dev)
