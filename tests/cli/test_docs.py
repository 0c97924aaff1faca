"""The docs against the code they describe: template parameters and the CLI's options.

No LocalStack: these read files and build the argparse parser.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from stackctl import docs_sync
from stackctl.cli import build_parser
from stackctl.template_file import load_template

ROOT = Path(__file__).resolve().parents[2]
PARAMETER_DOCS = ("README.md", "docs/pipeline.md")


def documented_parameters(doc: str) -> dict[str, list[str]]:
    """The rows of the doc's parameter table: name -> [default, allowed, meaning]."""
    part = docs_sync.generated_part((ROOT / doc).read_text(), "template-parameters")
    rows = [line.strip("|").split(" | ") for line in part.splitlines()[2:]]
    return {cells[0].strip().strip("`"): [cell.strip() for cell in cells[1:]] for cells in rows}


def test_every_generated_part_of_the_docs_is_up_to_date() -> None:
    # When this fails: `make docs`, then review and commit the rewritten files.
    assert docs_sync.stale_blocks(ROOT) == []


@pytest.mark.parametrize("doc", PARAMETER_DOCS)
def test_parameter_tables_give_the_templates_defaults_and_descriptions(doc: str) -> None:
    parameters = load_template(ROOT / "template.yaml")["Parameters"]
    documented = documented_parameters(doc)
    assert list(documented) == list(parameters)
    for name, spec in parameters.items():
        default, allowed, meaning = documented[name]
        assert default == (str(spec["Default"]) if spec["Default"] != "" else "(empty)"), name
        assert meaning == " ".join(spec["Description"].split()), name
        for value in spec.get("AllowedValues", []):
            assert str(value) in allowed, name
        for bound in ("MinValue", "MaxValue"):
            if bound in spec:
                assert str(spec[bound]) in allowed, name


def test_worker_batch_size_is_documented_with_the_templates_default() -> None:
    # The drift that started this: the docs said 5 while the template said 10.
    default = str(load_template(ROOT / "template.yaml")["Parameters"]["WorkerBatchSize"]["Default"])
    for doc in PARAMETER_DOCS:
        assert documented_parameters(doc)["WorkerBatchSize"][0] == default


def cli_options() -> list[tuple[str, argparse.Action]]:
    parser = build_parser()
    return [
        (name, action)
        for name, command in docs_sync.command_parsers(parser).items()
        for action in command._actions
        if not isinstance(action, argparse._HelpAction)
    ]


def test_every_command_and_option_is_in_the_cli_reference() -> None:
    reference = (ROOT / "docs/cli.md").read_text()
    for name in docs_sync.command_parsers(build_parser()):
        assert f"### `sheetflow {name}`" in reference
    for name, action in cli_options():
        for flag in action.option_strings or [str(action.metavar or action.dest)]:
            assert flag in reference, f"sheetflow {name}: {flag}"
        for choice in action.choices or ():
            assert str(choice) in reference, f"sheetflow {name}: {choice}"


def test_each_options_help_states_its_real_default() -> None:
    for name, action in cli_options():
        default = action.default
        if action.option_strings and default not in (None, False, argparse.SUPPRESS):
            shown = int(default) if isinstance(default, float) and default.is_integer() else default
            assert str(shown) in (action.help or ""), f"sheetflow {name} {action.option_strings}"


def test_sync_rewrites_only_the_part_between_the_markers(tmp_path: Path) -> None:
    for block in docs_sync.BLOCKS:
        (tmp_path / block.file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / block.file, tmp_path / block.file)
    readme = tmp_path / "README.md"
    original = readme.read_text()
    stale_row = "| `WorkerBatchSize` | 5 | 1 to 10 | Messages per worker invocation. |"
    edited = original.replace(documented_row("WorkerBatchSize", original), stale_row)
    readme.write_text(edited)

    assert docs_sync.stale_blocks(tmp_path) == ["README.md (template-parameters)"]
    assert docs_sync.sync(tmp_path) == ["README.md (template-parameters)"]
    assert readme.read_text() == original
    assert docs_sync.stale_blocks(tmp_path) == []


def documented_row(name: str, text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))


def test_a_doc_without_its_markers_is_named_in_the_error(tmp_path: Path) -> None:
    for block in docs_sync.BLOCKS:
        (tmp_path / block.file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / block.file, tmp_path / block.file)
    (tmp_path / "docs/cli.md").write_text("# The CLI\n\nNo generated part here.\n")
    with pytest.raises(docs_sync.MarkerError, match=r"docs/cli\.md: no `generated:cli-reference`"):
        docs_sync.stale_blocks(tmp_path)
