"""When a consumer process should stop: its own SIGTERM, the supervisor's request, or the
supervisor's death.

A consumer ignores SIGINT: Ctrl-C reaches the whole process group, and the supervisor alone
decides what it means. A first SIGTERM asks for a graceful stop; a second one exits at once.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from multiprocessing.synchronize import Event
from types import FrameType

_PR_SET_PDEATHSIG = 1


class StopRequest:
    def __init__(self, supervisor_request: Event, supervisor_pid: int) -> None:
        self._own = threading.Event()
        self._supervisor_request = supervisor_request
        self._supervisor_pid = supervisor_pid

    def requested(self) -> bool:
        return (
            self._own.is_set()
            or self._supervisor_request.is_set()
            or os.getppid() != self._supervisor_pid
        )

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum: int, _frame: FrameType | None) -> None:
        if self._own.is_set():
            # Unfinished messages reappear after their visibility timeout: nothing is lost.
            os._exit(128 + signum)
        self._own.set()


def die_with_supervisor(supervisor_pid: int) -> None:
    """On Linux the kernel kills this process when the supervisor dies, even by SIGKILL, so a
    killed worker never leaves consumers behind; elsewhere `requested()` notices the orphaning."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != supervisor_pid:  # it died before prctl took effect
        os._exit(1)
