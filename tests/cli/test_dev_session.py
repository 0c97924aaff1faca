"""One `sheetflow dev` per stack: a second session, entering while the first one leaves, would
record half-restored functions as their packaged state."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stackctl import dev_mode
from stackctl.errors import UserFacingError


def test_a_second_dev_session_for_a_stack_is_refused_until_the_first_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHEETFLOW_HOME", str(tmp_path))
    with dev_mode.session("shop"):
        # A second session of the same stack names the one that holds it
        with (
            pytest.raises(UserFacingError, match=f"pid {os.getpid()}") as refused,
            dev_mode.session("shop"),
        ):
            pass
        assert "Ctrl-C" in refused.value.hint
        # Another stack's session is independent
        with dev_mode.session("other"):
            pass
    # Once the first session ended, a new one starts
    with dev_mode.session("shop"):
        pass
