"""The full result document and the bounded summary kept on the task record."""

from __future__ import annotations

from typing import Any

from sheetflow.logic.parsing import WorkbookStats
from sheetflow.logic.validation import ArchiveFacts

SUMMARY_MAX_SHEETS = 20
SUMMARY_MAX_NAME = 64


def result_document(
    *, task_id: str, filename: str, size: int, facts: ArchiveFacts, stats: WorkbookStats
) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "filename": filename,
        "size": size,
        "has_macros": facts.has_macros,
        "sheet_count": len(stats.sheets),
        "sheets_truncated": stats.sheets_truncated,
        "total_rows": stats.total_rows,
        "total_errors": stats.total_errors,
        "sheets": stats.sheets,
    }


def task_summary(stats: WorkbookStats, facts: ArchiveFacts) -> dict[str, Any]:
    """Integers and short strings only: small enough for a DynamoDB item, no floats."""
    shown = stats.sheets[:SUMMARY_MAX_SHEETS]
    return {
        "sheet_count": len(stats.sheets),
        "total_rows": stats.total_rows,
        "total_errors": stats.total_errors,
        "has_macros": facts.has_macros,
        "sheets": [
            {"name": str(sheet["name"])[:SUMMARY_MAX_NAME], "rows": int(sheet["row_count"])}
            for sheet in shown
        ],
        "truncated": stats.sheets_truncated or len(stats.sheets) > len(shown),
    }
