"""The task table as the polling worker uses it: claims are reported, so leases can be renewed.

`process_message` claims a task with a lease of `lease_seconds`. A file may take longer than that;
while its message is still held, the heartbeat renews the lease as well as the message's
visibility, so a duplicate message of the same task (SQS delivers at least once; a message may
also be sent again, or redriven) finds the task still held instead of claiming it a second time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.task import Task


class LeasedTaskRepository(TaskRepository):
    def __init__(self, table_name: str, on_claim: Callable[[Task], None]) -> None:
        super().__init__(table_name)
        self._on_claim = on_claim

    def claim(self, task: Task, now: datetime, lease_until: int) -> Task | None:
        claimed = super().claim(task, now, lease_until)
        if claimed is not None:
            self._on_claim(claimed)
        return claimed

    def renew_lease(self, task_id: str, attempt: int, lease_until: int) -> bool:
        """Push the lease of our own attempt forward; False once the task left that attempt."""
        return self._update(task_id, {"lease_until": lease_until}, self._own_attempt(attempt))
