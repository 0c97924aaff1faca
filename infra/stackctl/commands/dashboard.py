"""`dashboard`: print the dashboard's URL, and open it when a browser can show it."""

from __future__ import annotations

import argparse
import os
import sys
import webbrowser
from collections.abc import Mapping
from typing import Any

from stackctl import stack
from stackctl.aws_errors import reported_as_user_errors
from stackctl.stack import StackOutputs


def dashboard_url(outputs: StackOutputs) -> str:
    """The page on the stack's own API (LocalStack's offline invoke path)."""
    return f"{outputs.api_base_url}/dashboard"


def can_show_a_browser(env: Mapping[str, str], platform: str) -> bool:
    """Whether opening a browser can reach a person: a desktop session, not a bare terminal."""
    if platform in ("darwin", "win32"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


@reported_as_user_errors
def cmd_dashboard(args: argparse.Namespace) -> int:
    url = dashboard_url(stack.outputs())
    print(url)
    if args.no_open or not can_show_a_browser(os.environ, sys.platform):
        return 0
    if webbrowser.open(url):
        print("Opened in your browser.", file=sys.stderr)
    return 0


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "dashboard", help="print the dashboard's URL (and open it when a display is present)"
    )
    parser.add_argument("--no-open", action="store_true", help="only print the URL")
    parser.set_defaults(handler=cmd_dashboard)
