"""What a handler builds from its environment: its configuration and the task table.

Built on first use and kept by the warm Lambda environment. `rebuild()` makes the next use read
the environment again and create fresh AWS clients (tests change both between cases).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from sheetflow.config import StackConfig
from sheetflow.dal.clients import enable_faults, reset_clients
from sheetflow.dal.tasks import TaskRepository
from sheetflow.observability import log_injected_fault


class HandlerDependencies[ConfigT: StackConfig]:
    def __init__(self, parse: Callable[[Mapping[str, str]], ConfigT]) -> None:
        self._parse = parse
        self._config: ConfigT | None = None
        self._tasks: TaskRepository | None = None

    @property
    def config(self) -> ConfigT:
        if self._config is None:
            self._config = self._parse(os.environ)
            enable_faults(self._config.faults, log_injected_fault)
        return self._config

    @property
    def tasks(self) -> TaskRepository:
        if self._tasks is None:
            self._tasks = TaskRepository(self.config.table_name)
        return self._tasks

    def rebuild(self) -> None:
        self._config = None
        self._tasks = None
        reset_clients()
