"""The CSV export stage: a second worker fed by the task events ("workers pass tasks on").

A rule on the task-events bus sends each "Task Succeeded" event whose upload asked for
`outputs=csv` to ExportQueue; this writes every sheet of the workbook as CSV, streaming, next to
the result (results/<task_id>/<n>-<sheet>.csv) and records the files on the task. A transient
failure raises and the message comes back (ExportDLQ after its retries); a repeat of the same
event after the files were recorded does nothing.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sheetflow.config import ExportConfig
from sheetflow.dal import storage
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.export import export_key, export_sheets

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


@dataclass(frozen=True)
class ExportReport:
    task_id: str
    files: int
    detail: str


def export_task(body: str, config: ExportConfig, tasks: TaskRepository) -> ExportReport:
    detail = json.loads(body)["detail"]
    task_id, event_id = detail["task_id"], detail["event_id"]
    task = tasks.get(task_id)
    if task is None or "csv" not in (task.outputs or []):
        return ExportReport(task_id, 0, "nothing to export")
    if task.exports:
        return ExportReport(task_id, 0, "already exported")
    with tempfile.TemporaryDirectory(prefix="sheetflow-export-") as workdir:
        folder = Path(workdir)
        workbook = folder / "workbook.xlsx"
        storage.download(task.bucket, task.key, workbook, lambda size: None)
        exports = []
        for index, sheet in enumerate(export_sheets(workbook, folder), start=1):
            key = export_key(task_id, index, sheet.sheet)
            storage.upload_file(config.results_bucket, key, sheet.path, CSV_MEDIA_TYPE)
            sheet.path.unlink()
            exports.append({"sheet": sheet.sheet, "key": key, "rows": sheet.rows})
    tasks.record_exports(task_id, event_id, exports)
    return ExportReport(task_id, len(exports), f"{len(exports)} CSV file(s)")
