"""A task (as GET /tasks/{id} returns it) in words: its outcome, summary, error and result."""

from __future__ import annotations

from typing import Any

from sheetflow.logic.task import TaskStatus


def outcome_line(label: str, task: dict[str, Any] | None) -> str:
    """`label: SUCCEEDED — 1 sheet, 501 rows, 0 errors` or `label: FAILED — NOT_XLSX: …`."""
    if task is None:
        return f"{label}: no task yet (the worker has not picked the upload up)"
    status = task.get("status")
    if status == TaskStatus.SUCCEEDED:
        return f"{label}: SUCCEEDED · {summary_text(task.get('summary') or {})}"
    if status == TaskStatus.FAILED:
        return f"{label}: FAILED · {error_text(task.get('error'))}"
    return f"{label}: still {status} after {_attempts(task)}"


def summary_text(summary: dict[str, Any]) -> str:
    sheets = int(summary.get("sheet_count") or 0)
    rows = int(summary.get("total_rows") or 0)
    errors = int(summary.get("total_errors") or 0)
    text = f"{_plural(sheets, 'sheet')}, {_plural(rows, 'row')}, {_plural(errors, 'error')}"
    return text + (", has macros (not run)" if summary.get("has_macros") else "")


def sheet_lines(summary: dict[str, Any], indent: str = "    ") -> list[str]:
    sheets = summary.get("sheets") or []
    width = max((len(str(sheet.get("name"))) for sheet in sheets), default=0)
    lines = [
        f"{indent}{sheet.get('name')!s:<{width}}  {_plural(int(sheet.get('rows') or 0), 'row')}"
        for sheet in sheets
    ]
    if summary.get("truncated"):
        lines.append(f"{indent}… more sheets in the result document")
    return lines


def error_text(error: dict[str, Any] | None) -> str:
    if not error:
        return "(no error recorded)"
    return f"{error.get('code')}: {error.get('message')}"


def detail_lines(task: dict[str, Any], results_bucket: str) -> list[str]:
    """Everything `sheetflow status TASK_ID` shows."""
    source = task.get("source") or {}
    size = task.get("size")
    lines = [
        f"Task {task.get('task_id')}: {task.get('status')} after {_attempts(task)}",
        f"  file      {task.get('filename')}"
        + (f" ({size:,} bytes)" if isinstance(size, int) else ""),
        f"  source    s3://{source.get('bucket')}/{source.get('key')}",
        f"  created   {task.get('created_at')}",
        f"  updated   {task.get('updated_at')}",
    ]
    if task.get("error"):
        lines.append(f"  error     {error_text(task.get('error'))}")
    if task.get("last_error"):
        lines.append(f"  last try  {error_text(task.get('last_error'))}")
    if task.get("summary"):
        lines.append(f"  summary   {summary_text(task['summary'])}")
        lines.extend(sheet_lines(task["summary"], indent="              "))
    lines.extend(result_lines(task, results_bucket, indent="  "))
    return lines


def result_lines(
    task: dict[str, Any], results_bucket: str, indent: str = "    ", with_url: bool = True
) -> list[str]:
    """Where the result JSON is: its S3 location and, when the API gave one, a download URL."""
    lines = []
    if task.get("result_key"):
        lines.append(f"{indent}result    s3://{results_bucket}/{task['result_key']}")
    if with_url and task.get("result_url"):
        lines.append(f"{indent}download  {task['result_url']}")
    return lines


def _attempts(task: dict[str, Any]) -> str:
    return _plural(int(task.get("attempts") or 0), "attempt")


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")
