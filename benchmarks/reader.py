# ruff: noqa: PLC0415 -- each child imports only the reader it measures: its peak is its own.
"""Readers of a 10-column sheet, measured in one run: rows/s and peak memory. Asserts nothing.

- openpyxl: a bare read-only pass over every cell (values only, no statistics);
- openpyxl+stats: openpyxl read-only with the statistics computed cell by cell (how sheetflow
  read workbooks before its streaming reader);
- calamine: python-calamine loading each sheet and iterating its rows (no statistics);
- sheetflow: the whole per-file work of the worker minus the network: validation, the streaming
  reader with every statistic, and the result document serialised to JSON on disk.

Each measurement runs in a fresh child process, so its peak resident memory (ru_maxrss, which
includes the interpreter and its imports) is its own. Workbooks are generated once with openpyxl
write-only and cached under .local/bench/ by shape (a million rows takes minutes to write).
Each figure is the best of `--rounds` runs (default 3; one at a million rows), the readers taking
turns. Usage: python -m benchmarks.reader [--rows 100000 1000000] [--rounds 3] [--readers ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.report import BenchmarkReport

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".local" / "bench"
COLUMNS = 10
READERS = ("openpyxl", "openpyxl+stats", "calamine", "sheetflow")
CATEGORIES = ("north", "south", "east", "west", "centre")


def workbook_path(rows: int) -> Path:
    """The cached workbook of `rows` data rows (plus a header) x 10 columns; written if absent."""
    path = CACHE / f"reader-{rows}x{COLUMNS}-v1.xlsx"
    if path.exists():
        return path
    import openpyxl  # only when a workbook must be written

    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"writing {path.name} (once; cached) ...", file=sys.stderr, flush=True)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("data")
    sheet.append(["id", "amount", "label", "flag", "day", "bucket", "note", "ratio", "qty", "area"])
    start = dt.datetime(2024, 1, 1)
    for row in range(rows):
        sheet.append(
            [
                row,
                row * 1.5,
                f"item {row}",
                row % 2 == 0,
                start + dt.timedelta(days=row % 700),
                row % 7,
                "x",
                row / 7,
                row % 1000,
                CATEGORIES[row % len(CATEGORIES)],
            ]
        )
    partial = path.with_suffix(".partial")
    book.save(partial)
    partial.rename(path)
    return path


def run_reader(reader: str, path: Path) -> int:
    """Rows seen by `reader` over the workbook at `path`."""
    if reader == "openpyxl":
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        rows = sum(1 for sheet in book.worksheets for _ in sheet.iter_rows(values_only=True))
        book.close()
        return rows
    if reader == "openpyxl+stats":
        import openpyxl

        from sheetflow.logic.parsing import ParseLimits, openpyxl_sheet_stats

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        stats = [openpyxl_sheet_stats(sheet, ParseLimits()).to_dict() for sheet in book.worksheets]
        book.close()
        return sum(int(sheet["row_count"]) for sheet in stats)
    if reader == "calamine":
        from python_calamine import CalamineWorkbook

        with CalamineWorkbook.from_path(str(path)) as book:
            return sum(
                1 for name in book.sheet_names for _ in book.get_sheet_by_name(name).iter_rows()
            )
    if reader == "sheetflow":
        from sheetflow.logic.parsing import ParseLimits, parse_workbook
        from sheetflow.logic.summary import result_document
        from sheetflow.logic.validation import ValidationLimits, validate_workbook_file

        size = path.stat().st_size
        limits = ValidationLimits(max_file_bytes=size, max_uncompressed_bytes=2 * 1024**3)
        facts = validate_workbook_file(path, limits)
        workbook = parse_workbook(path, ParseLimits())
        document = result_document(
            task_id="bench", filename=path.name, size=size, facts=facts, stats=workbook
        )
        with tempfile.TemporaryFile("w") as out:
            json.dump(document, out)
        return workbook.total_rows
    raise ValueError(f"unknown reader {reader!r}; one of {', '.join(READERS)}")


# Imported before the clock starts: a worker imports once, then reads many files.
IMPORTS = {
    "openpyxl": ["openpyxl"],
    "openpyxl+stats": ["openpyxl", "sheetflow.logic.parsing"],
    "calamine": ["python_calamine"],
    "sheetflow": [
        "sheetflow.logic.parsing",
        "sheetflow.logic.summary",
        "sheetflow.logic.validation",
    ],
}


def child(reader: str, path: Path) -> None:
    for module in IMPORTS.get(reader, []):
        importlib.import_module(module)
    started = time.perf_counter()
    rows = run_reader(reader, path)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak_mb}))


def measure(reader: str, path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.reader", "--child", reader, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--readers", nargs="+", default=list(READERS), choices=READERS)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="best of N runs per figure, readers taking turns (one run from 1M rows up)",
    )
    parser.add_argument("--child", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    report = BenchmarkReport("reader")
    print(f"{'rows':>9} {'reader':<15} {'seconds':>8} {'rows/s':>9} {'peak MB':>8}")
    for rows in args.rows:
        path = workbook_path(rows)
        rounds = args.rounds if rows < 1_000_000 else 1
        # Readers take turns, so a burst of load on the shared machine hits all of them.
        results: dict[str, list[dict[str, Any]]] = {reader: [] for reader in args.readers}
        for _ in range(rounds):
            for reader in args.readers:
                results[reader].append(measure(reader, path))
        best_seconds: dict[str, float] = {}
        for reader in args.readers:
            runs = results[reader]
            good = [run for run in runs if "error" not in run]
            if not good:
                print(f"{rows:>9} {reader:<15} failed: {runs[0]['error']}")
                continue
            best = min(good, key=lambda run: float(run["seconds"]))
            rate = best["rows"] / best["seconds"]
            best_seconds[reader] = float(best["seconds"])
            peak = max(run["peak_mb"] for run in good)
            report.record(f"{reader}, {rows:,} rows", rate, "rows/s", f"peak {peak:.0f} MB")
            print(
                f"{rows:>9} {reader:<15} {best['seconds']:>8.2f} {rate:>9.0f} "
                f"{max(run['peak_mb'] for run in good):>8.0f}",
                flush=True,
            )
        if "sheetflow" in best_seconds and "openpyxl" in best_seconds:
            report.record(
                f"sheetflow seconds ÷ openpyxl read-only seconds, {rows:,} rows",
                best_seconds["sheetflow"] / best_seconds["openpyxl"],
                "ratio",
                "same run; the whole per-file work against a bare read",
            )

    print(f"report: {report.save()}")


if __name__ == "__main__":
    main()
