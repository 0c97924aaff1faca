"""One report of the benchmarks' figures: each script records what it printed, and the report is
rewritten as Markdown and JSON under .local/bench/ (gitignored) after every script.

A script's new run replaces its own earlier figures and keeps the others', so `make bench` and the
separate targets (bench-worker, bench-reader) add up to one report. Ratios are recorded beside
the raw figures they come from: measured in the same run, they survive a noisy machine better
than any absolute number.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPORT_DIR = Path(__file__).resolve().parents[1] / ".local" / "bench"
FIGURES = REPORT_DIR / "report.json"
MARKDOWN = REPORT_DIR / "report.md"


class BenchmarkReport:
    """The figures of one benchmark script's run."""

    def __init__(self, benchmark: str) -> None:
        self.benchmark = benchmark
        self.started = datetime.now(UTC).isoformat(timespec="seconds")
        self.figures: list[dict[str, Any]] = []

    def record(self, name: str, value: float, unit: str, note: str = "") -> None:
        self.figures.append({"name": name, "value": value, "unit": unit, "note": note})
        self.save()

    def save(self) -> Path:
        """Writes this run into report.json and regenerates report.md; returns the Markdown path."""
        REPORT_DIR.mkdir(parents=True, exist_ok=True)
        document = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
        document[self.benchmark] = {
            "run_at": self.started,
            "cpus": os.cpu_count(),
            "figures": self.figures,
        }
        FIGURES.write_text(json.dumps(document, indent=2) + "\n")
        MARKDOWN.write_text(render(document))
        return MARKDOWN


def render(document: dict[str, Any]) -> str:
    lines = ["# Benchmark report", ""]
    for benchmark in sorted(document):
        run = document[benchmark]
        lines += [
            f"## {benchmark}",
            "",
            f"Run at {run['run_at']} on {run['cpus']} CPUs.",
            "",
            "| figure | value | unit | note |",
            "| --- | ---: | --- | --- |",
        ]
        for figure in run["figures"]:
            value = figure["value"]
            shown = (
                f"{value:,.3f}"
                if isinstance(value, float) and abs(value) < 100
                else f"{value:,.0f}"
            )
            lines.append(f"| {figure['name']} | {shown} | {figure['unit']} | {figure['note']} |")
        lines.append("")
    return "\n".join(lines)
