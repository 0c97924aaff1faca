"""`make chaos` in small: 100 uploads under killed workers, duplicate messages and injected AWS
faults, on the shared end-to-end stack, with every invariant of the full run checked.

LocalStack is not restarted here: its state is in memory and the other tests share the stack
(`make chaos RESTART=1` does it on a stack of its own; see docs/operations.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.chaos.run import ChaosRun, ChaosSettings
from stackctl.stack import StackOutputs
from tests.support.e2e import E2E_STACK

pytestmark = [pytest.mark.localstack, pytest.mark.e2e, pytest.mark.slow]

UPLOADS = 100


def test_a_hundred_uploads_under_faults_keep_every_invariant(
    outputs: StackOutputs, tmp_path: Path
) -> None:
    # Given the Lambda worker and a standalone worker consuming one queue, both failing a share
    # of their AWS calls, while environments and consumers are killed and messages copied
    settings = ChaosSettings(
        stack_name=E2E_STACK,
        uploads=UPLOADS,
        seed=12,
        kill_pause=10.0,
        duplicate_pause=2.0,
        bound_seconds=300.0,
        log_dir=tmp_path,
    )
    # When 100 good and hostile files arrive through the API, presigned POSTs and S3 puts
    result = ChaosRun(outputs, settings).run()
    print({**result.figures, "run_seconds": round(result.seconds)})
    # Then the faults did happen...
    figures = result.figures
    assert figures["lambda_environments_killed"] + figures["standalone_consumers_killed"] > 0
    assert figures["duplicates_sent"] > 0
    assert figures["injected_faults_lambda"] + figures["injected_faults_standalone"] > 0
    assert figures["processed_by_standalone"] > 0
    # ...and no task was lost, stuck, finished twice, late or wrong; the counts reconcile
    assert result.violations == []
    assert figures["accepted"] == UPLOADS - figures["refused_at_upload"]
    assert figures["accepted"] == (
        figures["succeeded"] + figures["failed"] + figures["dead_lettered"]
    )
