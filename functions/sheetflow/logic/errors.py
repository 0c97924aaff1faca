"""Error codes, the two kinds of processing failure (permanent: the file; transient: a
dependency), and the one error for a request that cannot be served as asked."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Codes recorded on a FAILED task and returned by the API."""

    # Problems with the file itself: permanent, never retried.
    EMPTY_FILE = "EMPTY_FILE"
    TOO_LARGE = "TOO_LARGE"
    NOT_XLSX = "NOT_XLSX"
    CORRUPT = "CORRUPT"
    ENCRYPTED = "ENCRYPTED"
    LEGACY_XLS = "LEGACY_XLS"
    XLSB = "XLSB"
    STRICT_OOXML = "STRICT_OOXML"
    MISSING_PART = "MISSING_PART"
    ZIP_BOMB = "ZIP_BOMB"
    TOO_MANY_ENTRIES = "TOO_MANY_ENTRIES"
    TOO_MANY_CELLS = "TOO_MANY_CELLS"
    XML_ATTACK = "XML_ATTACK"
    SOURCE_MISSING = "SOURCE_MISSING"
    # The parse would not end before the worker's timeout (estimated before it starts).
    TOO_BIG_FOR_TIMEOUT = "TOO_BIG_FOR_TIMEOUT"
    # Problems with the worker's own dependencies: transient, retried with backoff.
    DEPENDENCY_UNAVAILABLE = "DEPENDENCY_UNAVAILABLE"
    # What is left of this invocation is too short for the file, a fresh one would do: retried.
    OUT_OF_TIME = "OUT_OF_TIME"
    # Set by the dead-letter function when retries ran out.
    RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"
    # Set by the watchdog: a presigned upload whose URL expired before any file arrived.
    UPLOAD_EXPIRED = "UPLOAD_EXPIRED"


class PermanentError(Exception):
    """The file cannot be processed, now or ever: the task fails and the message is consumed."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TransientError(Exception):
    """A dependency failed; the same message may succeed later, so it is retried."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.DEPENDENCY_UNAVAILABLE) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class StopRequestedError(Exception):
    """Processing was asked to stop (the task was cancelled) and stopped between sheets."""


class RequestRejectedError(ValueError):
    """A client's request cannot be served as asked: a code and a message for the client.

    The code says what is wrong (MISSING_BODY, TOO_LARGE, INVALID_LIMIT, TASK_NOT_FOUND, ...);
    the API handler alone decides which HTTP status that is.
    """

    def __init__(self, code: str, message: str, **details: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # Facts a client can act on without parsing the message (e.g. the task's status).
        self.details = details
