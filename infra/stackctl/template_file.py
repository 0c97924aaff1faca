"""Reading template.yaml as data: CloudFormation's short-form tags (!Ref, !Sub, …) are kept as
their plain values, which is all a reader of parameters or resource properties needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from stackctl import paths


class _TemplateLoader(yaml.SafeLoader):
    """A safe loader that also accepts CloudFormation's short tags."""


def _any_tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_TemplateLoader.add_multi_constructor("!", _any_tag)


def load_template(path: Path | None = None) -> dict[str, Any]:
    """The template as a dict; the project's template.yaml unless `path` is given."""
    path = path or paths.project_root() / "template.yaml"
    # bandit B506: _TemplateLoader is a SafeLoader that reads CloudFormation tags as plain data
    document: dict[str, Any] = yaml.load(path.read_text(), Loader=_TemplateLoader)  # nosec B506
    return document
