"""The worker's pure parts: configuration, lease arithmetic, liveness."""

from __future__ import annotations

import pytest

from sheetflow.config import ConfigError, StandaloneConfig
from sheetflow.worker.health import ConsumerState, ProgressDeadlines, assess_liveness
from sheetflow.worker.supervisor import Supervisor

REQUIRED = {"QUEUE_URL": "http://queue", "TABLE_NAME": "tasks", "BUCKET_NAME": "uploads"}


def test_defaults_and_processing_settings_come_from_the_environment() -> None:
    settings = StandaloneConfig.from_env({**REQUIRED, "RESULTS_BUCKET": "results"})
    assert (settings.concurrency, settings.health_port, settings.receive_batch) == (1, 0, 10)
    assert (settings.wait_seconds, settings.visibility_seconds) == (20, 60)
    assert (settings.worker.bucket_name, settings.worker.results_bucket) == ("uploads", "results")
    assert settings.lease_seconds == 30


def test_lease_lapses_before_a_dead_workers_message_reappears() -> None:
    # The message reappears one visibility timeout after the last heartbeat; the lease, set at
    # most one heartbeat interval later, must have lapsed by then.
    for visibility in (2, 3, 7, 60, 720):
        settings = StandaloneConfig.from_env(
            {**REQUIRED, "WORKER_VISIBILITY_SECONDS": str(visibility)}
        )
        assert settings.heartbeat_seconds + settings.lease_seconds < visibility


def test_flags_override_the_environment_within_the_same_bounds() -> None:
    settings = StandaloneConfig.from_env({**REQUIRED, "WORKER_CONCURRENCY": "4"})
    assert settings.with_overrides(concurrency=2, health_port=8080).concurrency == 2
    with pytest.raises(ConfigError, match="--concurrency must be between 1 and 64, not 0"):
        settings.with_overrides(concurrency=0)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WORKER_RECEIVE_BATCH", "11", "between 1 and 10"),
        ("WORKER_VISIBILITY_SECONDS", "1", "between 2 and 43200"),
        ("WORKER_HEALTH_PORT", "http", "must be an integer"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=f"{name} .*{message}"):
        StandaloneConfig.from_env({**REQUIRED, name: value})


DEADLINES = ProgressDeadlines(poll=30.0, beat=30.0)


def consumer(
    last_poll: float, busy_since: float = 0.0, last_beat: float = 999.0, alive: bool = True
) -> ConsumerState:
    return ConsumerState(
        slot=0,
        pid=42,
        alive=alive,
        last_poll=last_poll,
        busy_since=busy_since,
        last_beat=last_beat,
        restarts=0,
    )


def test_liveness_is_ok_while_polls_are_recent_or_a_busy_consumer_keeps_beating() -> None:
    assert assess_liveness(1000.0, 999.9, [consumer(last_poll=990.0)], DEADLINES).healthy
    # A large file keeps a consumer busy for long: its heartbeat ticks say it is alive
    busy_long = consumer(last_poll=100.0, busy_since=200.0, last_beat=990.0)
    liveness = assess_liveness(1000.0, 999.9, [busy_long], DEADLINES)
    assert liveness.healthy and liveness.hung == []
    assert liveness.document["consumers"][0]["busy_seconds"] == 800.0


@pytest.mark.parametrize(
    ("state", "tick", "problem", "hung"),
    [
        (consumer(last_poll=900.0), 999.9, "consumer 0 is hung: no poll completed for 100 s", [0]),
        (
            consumer(last_poll=100.0, busy_since=200.0, last_beat=950.0),
            999.9,
            "consumer 0 is hung: busy for 800 s, heartbeat silent for 50 s",
            [0],
        ),
        (consumer(last_poll=999.0, alive=False), 999.9, "consumer 0 is not running", []),
        (consumer(last_poll=999.0), 900.0, "supervisor loop silent for 100 s", []),
    ],
    ids=["idle-without-poll", "busy-without-heartbeat", "dead", "silent-supervisor"],
)
def test_liveness_fails_on_a_hung_or_dead_consumer_or_a_silent_supervisor(
    state: ConsumerState, tick: float, problem: str, hung: list[int]
) -> None:
    liveness = assess_liveness(1000.0, tick, [state], DEADLINES)
    assert not liveness.healthy
    assert liveness.document["status"] == "unhealthy"
    assert liveness.document["problems"] == [problem]
    # Only a live consumer that makes no progress is replaced; a dead one is simply restarted
    assert liveness.hung == hung


def test_consumers_not_started_yet_keep_the_worker_unhealthy() -> None:
    # Given a supervisor configured for two consumers that has not started them
    settings = StandaloneConfig.from_env({**REQUIRED, "WORKER_CONCURRENCY": "2"})
    supervisor = Supervisor(settings)
    # Then liveness lists both slots and is unhealthy until they run
    liveness = supervisor.liveness()
    assert not liveness.healthy
    assert [c["alive"] for c in liveness.document["consumers"]] == [False, False]
    assert liveness.document["problems"] == [
        "consumer 0 is not running",
        "consumer 1 is not running",
    ]
