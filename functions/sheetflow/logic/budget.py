"""Will a workbook finish before the worker's timeout? Estimated before parsing starts.

A Lambda invocation that runs out of time is killed, its message comes back after the visibility
timeout, runs out of time again, and ends in the dead-letter queue minutes later with
RETRIES_EXHAUSTED. A workbook whose parse cannot fit is therefore refused at once with its own
code. The estimate is the uncompressed XML the parser must read (worksheets and shared strings,
known from the zip directory without decompressing anything) divided by a measured throughput.
"""

from __future__ import annotations

from dataclasses import dataclass

from sheetflow.logic.errors import ErrorCode, PermanentError, TransientError
from sheetflow.logic.validation import ArchiveFacts

MB = 1_000_000


@dataclass(frozen=True)
class TimeBudget:
    # Sheet XML the parser reads per second, statistics included. openpyxl measured 3.7 MB/s on
    # one core of the reference machine (benchmarks/large_workbooks.py); a 1024 MB Lambda has
    # about 0.6 of a vCPU, so the default leaves room. Raise it with a faster reader.
    xml_bytes_per_second: int = 6 * MB
    # Kept back for storing the result and recording the task.
    margin_seconds: int = 10


def parse_seconds(facts: ArchiveFacts, budget: TimeBudget) -> float:
    return facts.cell_xml_bytes / budget.xml_bytes_per_second


def check_time_budget(
    facts: ArchiveFacts,
    seconds_left: float,
    budget: TimeBudget,
    whole_seconds: float | None = None,
) -> None:
    """PermanentError TOO_BIG_FOR_TIMEOUT when the parse would not end in the time left.

    With `whole_seconds` (the time a fresh invocation has): a file that would fit a fresh
    invocation, late in a batch whose earlier records used up the time, is a TransientError
    (OUT_OF_TIME, retried) rather than refused for good.
    """
    needed = parse_seconds(facts, budget)
    available = seconds_left - budget.margin_seconds
    if needed <= available:
        return
    if whole_seconds is not None and needed <= whole_seconds - budget.margin_seconds:
        raise TransientError(
            f"about {needed:.0f} s of parsing needed but only {max(available, 0):.0f} s left in "
            "this invocation; retried in a fresh one",
            ErrorCode.OUT_OF_TIME,
        )
    raise PermanentError(
        ErrorCode.TOO_BIG_FOR_TIMEOUT,
        f"Parsing this workbook would take about {needed:.0f} s "
        f"({facts.cell_xml_bytes / MB:.0f} MB of sheet XML at "
        f"{budget.xml_bytes_per_second / MB:.1f} MB/s) but the worker has "
        f"{max(available, 0):.0f} s left before its timeout. Raise the WorkerTimeout "
        "parameter (at most 900 s), split the workbook, or process it with the standalone "
        "worker, which has no time limit.",
    )
