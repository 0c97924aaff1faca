"""`dashboard`: print the dashboard's URL, and open it when a browser can show it."""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse
import webbrowser
from collections.abc import Mapping
from typing import Any

from stackctl import api_keys, stack
from stackctl.aws_errors import reported_as_user_errors
from stackctl.stack import StackOutputs


def dashboard_url(outputs: StackOutputs, api_key: str | None = None) -> str:
    """The page on the stack's own API (LocalStack's offline invoke path). With `api_key`, the
    key rides in the URL fragment (#key=...), which the browser never sends to a server: the
    page keeps it for its tab and sends it with each API call (x-api-key)."""
    url = f"{outputs.api_base_url}/dashboard"
    return f"{url}#{urllib.parse.urlencode({'key': api_key})}" if api_key else url


def can_show_a_browser(env: Mapping[str, str], platform: str) -> bool:
    """Whether opening a browser can reach a person: a desktop session, not a bare terminal."""
    if platform in ("darwin", "win32"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


@reported_as_user_errors
def cmd_dashboard(args: argparse.Namespace) -> int:
    outputs = stack.outputs()
    url = dashboard_url(outputs, api_keys.api_key(outputs))
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
