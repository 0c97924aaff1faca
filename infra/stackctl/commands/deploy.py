"""`deploy`: sam build + samlocal deploy of template.yaml to LocalStack; prints the outputs."""

from __future__ import annotations

import argparse
import time
from typing import Any

from stackctl import localstack, sam, stack
from stackctl.aws_errors import reported_as_user_errors
from stackctl.errors import UserFacingError


@reported_as_user_errors
def cmd_deploy(args: argparse.Namespace) -> int:
    name = stack.stack_name()
    if localstack.health() is None:
        # Checked first: SAM's own error for an unreachable endpoint is pages long.
        raise UserFacingError(
            f"LocalStack is not running at {localstack.endpoint_url()}.",
            "Start it with `make up` (or run `make deploy`, which starts it first).",
        )
    print(f"Building and deploying stack {name!r} to {localstack.endpoint_url()} …", flush=True)
    began = time.monotonic()
    overrides = sam.parse_parameter_overrides(args.parameter_overrides or [])
    outputs = stack.deploy(name, overrides)
    print(f"Stack {name!r} is deployed ({time.monotonic() - began:.1f} s; unchanged parts kept).")
    width = max(len(key) for key in outputs.values)
    for key in sorted(outputs.values):
        print(f"  {key:<{width}}  {outputs[key]}")
    print(f"API base URL (works offline): {outputs.api_base_url}")
    print(f"Try: curl {outputs.api_base_url}/health")
    return 0


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "deploy", help="build the SAM template and deploy it to LocalStack (idempotent)"
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        metavar="NAME=VALUE",
        help="template parameters for this deploy, added to samconfig.toml's local ones",
    )
    parser.set_defaults(handler=cmd_deploy)
