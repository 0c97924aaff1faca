"""The CLI's pure parts, without LocalStack: progress display, waiting, event replay, formats."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pytest

from stackctl.commands.logs import parse_duration
from stackctl.event_replay import http_request_of, load_event, sqs_bodies_of
from stackctl.function_names import SHORT_NAMES, function_of_event_file
from stackctl.log_format import readable_message
from stackctl.progress import ProgressDisplay, TaskProgress, TransferProgress
from stackctl.task_report import outcome_line
from stackctl.task_waiting import WatchedTask, wait_for_tasks

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_terminal_gets_one_line_rewritten_in_place() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream, interactive=True)
    display.show([TaskProgress("book.xlsx", "a" * 32, "QUEUED", 0)], 0.1)
    display.show([TaskProgress("book.xlsx", "a" * 32, "PROCESSING", 1)], 0.6)
    display.close()
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.count("\r\x1b[K") == 2
    assert "book.xlsx: PROCESSING (attempt 1) · 0.6 s" in text


def test_a_pipe_gets_one_plain_line_per_change() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream, interactive=False)
    for status, elapsed in (("QUEUED", 0.1), ("QUEUED", 0.3), ("SUCCEEDED", 0.5)):
        display.show([TaskProgress("book.xlsx", "a" * 32, status, 1)], elapsed)
    display.close()
    assert stream.getvalue().splitlines() == [
        "[  0.1 s] book.xlsx: QUEUED (attempt 1)",
        "[  0.5 s] book.xlsx: SUCCEEDED (attempt 1)",
    ]
    assert "\r" not in stream.getvalue()


def test_waiting_stops_when_every_task_has_finished() -> None:
    clock = FakeClock()
    states = {"t1": iter(["QUEUED", "PROCESSING", "SUCCEEDED"]), "t2": iter(["FAILED"])}
    fetched: list[str] = []

    def fetch(task_id: str) -> dict[str, Any] | None:
        fetched.append(task_id)
        return {"status": next(states[task_id]), "attempts": 1}

    result = wait_for_tasks(
        [WatchedTask("one", "t1"), WatchedTask("two", "t2")],
        fetch,
        timeout=60,
        display=ProgressDisplay(io.StringIO(), interactive=False),
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.all_finished
    assert result.tasks["t1"] == {"status": "SUCCEEDED", "attempts": 1}
    # A finished task is not asked for again.
    assert fetched == ["t1", "t2", "t1", "t1"]


def test_waiting_gives_up_at_the_deadline() -> None:
    clock = FakeClock()
    output = io.StringIO()
    result = wait_for_tasks(
        [WatchedTask("s3 put", "t1")],
        lambda _: None,  # the worker never creates the task
        timeout=2,
        display=ProgressDisplay(output, interactive=False),
        interval=0.5,
        clock=clock,
        sleep=clock.sleep,
    )
    assert not result.all_finished
    assert result.tasks == {"t1": None}
    assert result.elapsed == 2
    assert "s3 put: UPLOADED" in output.getvalue()


def test_an_api_event_becomes_the_http_request_it_stands_for() -> None:
    request = http_request_of(load_event(EVENTS_DIR / "api-upload.json"))
    assert (request.method, request.path) == ("POST", "/uploads")
    assert request.query == {"filename": "sales.xlsx"}
    assert request.body is not None and request.body.startswith(b"PK\x03\x04")  # decoded
    assert {name.lower() for name in request.headers} <= {"content-type", "x-filename", "accept"}


def test_an_sqs_event_yields_its_message_bodies() -> None:
    bodies = sqs_bodies_of(load_event(EVENTS_DIR / "worker-task-messages.json"))
    assert [json.loads(body)["task_id"] for body in bodies] == [
        "0f8fad5bd9cb469fa16570867728950e",
        "7c9e6679742540de944be07fc1f90ae7",
    ]


@pytest.mark.parametrize("event_file", sorted(EVENTS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_every_sample_event_maps_to_the_function_its_name_starts_with(event_file: Path) -> None:
    short_name = function_of_event_file(event_file)
    assert short_name in SHORT_NAMES
    assert event_file.name.startswith(f"{short_name}-")


def test_dead_letter_events_are_not_mistaken_for_another_function() -> None:
    assert function_of_event_file(Path("dead-letter-record.json")) == "dead-letter"


@pytest.mark.parametrize(("text", "seconds"), [("45s", 45), ("10m", 600), ("2h", 7200)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["10", "m", "-5m", "1w"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_powertools_records_read_as_one_short_line() -> None:
    record = {
        "level": "INFO",
        "location": "__call__:73",
        "message": "Message processed",
        "timestamp": "2026-01-05 10:00:00,000+0000",
        "service": "sheetflow",
        "correlation_id": "0f8fad5bd9cb469fa16570867728950e",
        "outcome": "SUCCEEDED",
        "code": None,
    }
    assert readable_message(json.dumps(record)) == (
        "INFO    Message processed [0f8fad5bd9cb469fa16570867728950e]  outcome=SUCCEEDED"
    )


def test_metric_records_read_as_name_value_pairs() -> None:
    record = {
        "_aws": {"CloudWatchMetrics": [{"Metrics": [{"Name": "RowsParsed"}, {"Name": "Files"}]}]},
        "RowsParsed": [501.0],
        "Files": 1,
    }
    assert readable_message(json.dumps(record)) == "metrics  RowsParsed=501 Files=1"


def test_plain_log_lines_stay_as_they_are() -> None:
    assert readable_message("END RequestId: 1234") == "END RequestId: 1234"


def test_outcomes_in_words() -> None:
    succeeded = {
        "status": "SUCCEEDED",
        "summary": {"sheet_count": 2, "total_rows": 1501, "total_errors": 1},
    }
    failed = {"status": "FAILED", "error": {"code": "NOT_XLSX", "message": "Not a workbook."}}
    assert outcome_line("a", succeeded) == "a: SUCCEEDED · 2 sheets, 1,501 rows, 1 error"
    assert outcome_line("b", failed) == "b: FAILED · NOT_XLSX: Not a workbook."
    assert outcome_line("c", None).startswith("c: no task yet")


def test_transfer_progress_draws_a_bar_on_a_terminal_and_quarters_elsewhere() -> None:
    # Given 10 MB sent in 1 MB steps
    terminal, log = io.StringIO(), io.StringIO()
    bar = TransferProgress("Uploading big.xlsx", 10_000_000, terminal, interactive=True)
    lines = TransferProgress("Uploading big.xlsx", 10_000_000, log, interactive=False)
    for _ in range(10):
        bar.advance(1_000_000)
        lines.advance(1_000_000)
    bar.close()
    # Then the terminal bar is redrawn in place and ends full, with a closing line
    assert terminal.getvalue().count("\r\x1b[K") == 11
    assert "[" + "#" * TransferProgress.BAR_WIDTH + "] 100% 10.0/10.0 MB" in terminal.getvalue()
    assert terminal.getvalue().endswith("\n")
    # And a log gets one line per quarter reached
    assert log.getvalue().splitlines() == [
        "Uploading big.xlsx: 30% (3.0/10.0 MB)",
        "Uploading big.xlsx: 50% (5.0/10.0 MB)",
        "Uploading big.xlsx: 80% (8.0/10.0 MB)",
        "Uploading big.xlsx: 100% (10.0/10.0 MB)",
    ]
