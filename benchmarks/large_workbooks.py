"""How fast the worker's validation and parser get through a large workbook, and in how much
memory: the figure behind PARSE_BYTES_PER_SECOND (the Lambda worker's time budget).

Prints figures, asserts nothing. Runs in-process, without LocalStack: the workbook is generated
(and cached under .local/large-workbooks/), validated and parsed exactly as the worker does.

Usage: python -m benchmarks.large_workbooks [--rows 200000]
"""

from __future__ import annotations

import argparse
import resource
import time

from sheetflow.logic.parsing import ParseLimits, parse_workbook
from sheetflow.logic.validation import ValidationLimits, validate_workbook_file
from tests.support.large_workbook import cached_large_workbook

MB = 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="data rows (10 columns)")
    args = parser.parse_args()

    started = time.monotonic()
    path, _ = cached_large_workbook(args.rows)
    print(
        f"workbook      {args.rows:,} rows x 10 columns, {path.stat().st_size / MB:.1f} MB "
        f"({time.monotonic() - started:.1f} s to generate or find in the cache)"
    )

    started = time.monotonic()
    facts = validate_workbook_file(path, ValidationLimits(max_file_bytes=10**10))
    validated = time.monotonic() - started
    print(f"validation    {validated:.2f} s, {facts.cell_xml_bytes / MB:.0f} MB of sheet XML")

    started = time.monotonic()
    stats = parse_workbook(path, ParseLimits())
    parsed = time.monotonic() - started
    rows = stats.total_rows
    print(
        f"parse         {parsed:.1f} s: {rows / parsed:,.0f} rows/s, "
        f"{facts.cell_xml_bytes / parsed / MB:.2f} MB/s of sheet XML (PARSE_BYTES_PER_SECOND)"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory   {peak:.0f} MB (this process, interpreter included)")


if __name__ == "__main__":
    main()
