"""Deploy settings the SAM way: samconfig.toml's `local` environment plus overrides per deploy."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackctl import paths, sam
from stackctl.errors import UserFacingError


def test_the_project_samconfig_has_a_local_environment() -> None:
    # The file SAM reads on every local deploy parses and names the settings the stack needs
    config = sam.samconfig()
    assert config == paths.project_root() / "samconfig.toml"
    assert sam.configured_parameters(config) == {}


def test_overrides_add_to_the_configured_parameters_and_win(tmp_path: Path) -> None:
    # Given a samconfig whose local environment sets two parameters
    config = tmp_path / "samconfig.toml"
    config.write_text('version = 0.1\n[local.deploy.parameters]\nparameter_overrides = "A=1 B=2"\n')
    # When a deploy overrides one of them and adds another
    command = sam.deploy_command(
        Path("/built/template.yaml"), "stack", config, {"B": "9", "C": "3"}
    )
    # Then SAM gets the local environment and every parameter, the override winning
    assert command[:6] == [
        "samlocal",
        "deploy",
        "--config-file",
        str(config),
        "--config-env",
        "local",
    ]
    overrides = command[command.index("--parameter-overrides") + 1 :]
    assert overrides == ["A=1", "B=9", "C=3"]


@pytest.mark.parametrize("bad", ["WorkerTimeout", "=5"])
def test_a_malformed_override_is_refused_with_the_expected_form(bad: str) -> None:
    with pytest.raises(UserFacingError, match="is not Name=Value"):
        sam.parse_parameter_overrides([bad])
