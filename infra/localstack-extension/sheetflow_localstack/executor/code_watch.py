"""Tells when hot-reloaded code changed, so the next invocation runs it in a fresh runtime.

A function (or layer) whose code is LocalStack's hot-reloading code (S3Bucket `hot-reload`,
S3Key an absolute host folder) runs straight from that folder. A runtime imports the code once;
after a change, the executor replaces it, so the change shows at the next invocation as a cold
start, as a code update does in AWS.

The check runs before every invocation, so it must be cheap: a walk of the function's folder
stats each file (about 0.1 ms for the project's ~60 files). Python's bytecode caches and hidden
folders are skipped (running the code must not look like a change). A layer's folder of
installed packages is large and changes only when reinstalled: only its top level is compared.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

Fingerprint = tuple[tuple[str, int, int], ...]


def _skipped(name: str) -> bool:
    return name == "__pycache__" or name.startswith(".") or name.endswith(".pyc")


def tree_fingerprint(root: Path) -> Fingerprint:
    """Every file under `root` with its modification time and size."""
    entries: list[tuple[str, int, int]] = []
    folders = [str(root)]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as listing:
                for entry in listing:
                    if _skipped(entry.name):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(entry.path)
                        continue
                    stat = entry.stat()
                    entries.append((entry.path, stat.st_mtime_ns, stat.st_size))
        except OSError:
            # A folder deleted while walking: the missing entries are the change.
            continue
    return tuple(sorted(entries))


def top_level_fingerprint(root: Path) -> Fingerprint:
    """The files directly in `root` and its folders' names (a reinstall replaces them).

    Folder times are left out: Python writes bytecode caches into them when it imports.
    """
    entries: list[tuple[str, int, int]] = []
    try:
        with os.scandir(root) as listing:
            for entry in listing:
                if entry.is_dir(follow_symlinks=False):
                    entries.append((entry.path, 0, 0))
                else:
                    stat = entry.stat()
                    entries.append((entry.path, stat.st_mtime_ns, stat.st_size))
    except OSError:
        return ()
    return tuple(sorted(entries))


class CodeWatch:
    """Fingerprints of hot-reloaded folders taken when a runtime started, compared later."""

    def __init__(self, code_folders: Iterable[Path], layer_folders: Iterable[Path]) -> None:
        self._code_folders = tuple(code_folders)
        self._layer_folders = tuple(layer_folders)
        self._code = self._code_fingerprint()
        self._layers = self._layers_fingerprint()

    def __bool__(self) -> bool:
        return bool(self._code_folders or self._layer_folders)

    def _code_fingerprint(self) -> tuple[Fingerprint, ...]:
        return tuple(tree_fingerprint(f) for f in self._code_folders)

    def _layers_fingerprint(self) -> tuple[Fingerprint, ...]:
        return tuple(top_level_fingerprint(f) for f in self._layer_folders)

    def mark(self) -> None:
        """Records the current state: call right before a runtime starts importing the code."""
        self._code = self._code_fingerprint()
        self._layers = self._layers_fingerprint()

    def code_changed(self) -> bool:
        return bool(self._code_folders) and self._code_fingerprint() != self._code

    def layers_changed(self) -> bool:
        return bool(self._layer_folders) and self._layers_fingerprint() != self._layers
