"""The parts of the docs that restate the code, generated from it so they cannot drift.

Each generated part sits between two marker comments in a Markdown file:

    <!-- generated:NAME (python -m stackctl.docs_sync) -->
    ...
    <!-- end generated:NAME -->

`python -m stackctl.docs_sync` (`make docs`) rewrites them; `--check` only reports stale ones
(exit 1), and a unit test runs the same check.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackctl import paths
from stackctl.cli import build_parser
from stackctl.template_file import load_template

HELP_WIDTH = 100  # fixed, so the generated help does not depend on the terminal that ran it


@dataclass(frozen=True)
class Block:
    file: str  # relative to the project root
    name: str
    render: Callable[[], str]


# --- template parameters --------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    name: str
    default: str
    allowed: str
    description: str


def template_parameters(template: dict[str, Any] | None = None) -> list[Parameter]:
    """The template's Parameters in declaration order, as the docs show them."""
    template = template if template is not None else load_template()
    return [_parameter(name, spec) for name, spec in template["Parameters"].items()]


def _parameter(name: str, spec: dict[str, Any]) -> Parameter:
    default = spec.get("Default")
    return Parameter(
        name=name,
        default="(empty)" if default in (None, "") else str(default),
        allowed=_allowed(spec),
        description=" ".join(str(spec.get("Description", "")).split()),
    )


def _allowed(spec: dict[str, Any]) -> str:
    if "AllowedValues" in spec:
        return ", ".join(str(value) for value in spec["AllowedValues"])
    low, high = spec.get("MinValue"), spec.get("MaxValue")
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f"at least {low}"
    if high is not None:
        return f"at most {high}"
    return "any"


def parameter_table() -> str:
    rows = [
        "| Parameter | Default | Allowed | Meaning |",
        "| --- | --- | --- | --- |",
    ]
    rows += [
        f"| `{p.name}` | {_cell(p.default)} | {_cell(p.allowed)} | {_cell(p.description)} |"
        for p in template_parameters()
    ]
    return "\n".join(rows)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


# --- CLI reference --------------------------------------------------------------------------------


def command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Each subcommand's parser, in the order of `sheetflow --help`."""
    return dict(_subcommands(parser).choices)


def command_summaries(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each subcommand's one-line help, as `sheetflow --help` lists it."""
    return {choice.dest: choice.help or "" for choice in _subcommands(parser)._get_subactions()}


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[Any]:
    # argparse keeps its subcommands only in private attributes; the CLI has exactly one set.
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise ValueError(f"{parser.prog} has no subcommands")


def command_help(parser: argparse.ArgumentParser) -> str:
    parser.formatter_class = _fixed_width_formatter
    return parser.format_help().rstrip()


def _fixed_width_formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(prog, width=HELP_WIDTH)


def cli_reference() -> str:
    parser = build_parser()
    summaries = command_summaries(parser)
    sections = []
    for name, command in command_parsers(parser).items():
        sections.append(
            f"### `sheetflow {name}`\n\n{summaries[name]}\n\n```\n{command_help(command)}\n```"
        )
    return "\n\n".join(sections)


BLOCKS = [
    Block("README.md", "template-parameters", parameter_table),
    Block("docs/pipeline.md", "template-parameters", parameter_table),
    Block("docs/cli.md", "cli-reference", cli_reference),
]


# --- markers --------------------------------------------------------------------------------------


class MarkerError(Exception):
    pass


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- generated:{re.escape(name)} \(python -m stackctl\.docs_sync\) -->\n)"
        rf"(.*?)"
        rf"(<!-- end generated:{re.escape(name)} -->)",
        re.DOTALL,
    )


def generated_part(text: str, name: str) -> str:
    """What stands between the markers of `name` today."""
    match = _pattern(name).search(text)
    if match is None:
        raise MarkerError(f"no `generated:{name}` markers")
    return match.group(2)


def with_generated_part(text: str, name: str, content: str) -> str:
    generated_part(text, name)  # the markers must be there
    return _pattern(name).sub(lambda m: f"{m.group(1)}{content}\n{m.group(3)}", text, count=1)


def _part_of(block: Block, text: str) -> str:
    try:
        return generated_part(text, block.name)
    except MarkerError as error:
        raise MarkerError(
            f"{block.file}: {error}; put the begin and end comments where that part belongs"
        ) from error


def stale_blocks(root: Path | None = None) -> list[str]:
    """`file (name)` of every generated part that differs from what the code gives today."""
    root = root or paths.project_root()
    stale = []
    for block in BLOCKS:
        text = (root / block.file).read_text()
        if _part_of(block, text) != block.render() + "\n":
            stale.append(f"{block.file} ({block.name})")
    return stale


def sync(root: Path | None = None) -> list[str]:
    """Rewrites every stale generated part; returns the files it changed."""
    root = root or paths.project_root()
    changed = []
    for block in BLOCKS:
        path = root / block.file
        text = path.read_text()
        _part_of(block, text)
        updated = with_generated_part(text, block.name, block.render())
        if updated != text:
            path.write_text(updated)
            changed.append(f"{block.file} ({block.name})")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stackctl.docs_sync",
        description="Regenerate the docs' parameter tables and CLI reference from the code.",
    )
    parser.add_argument("--check", action="store_true", help="report stale parts, change nothing")
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = stale_blocks()
            for part in stale:
                print(f"stale: {part}; run `make docs`", file=sys.stderr)
            return 1 if stale else 0
        for part in sync():
            print(f"rewrote {part}")
    except MarkerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
