"""Translates SDK failures into the domain's vocabulary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from sheetflow.logic.errors import TransientError


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def dependency_call(what: str) -> Iterator[None]:
    """Any SDK failure inside becomes a TransientError: the dependency may recover."""
    try:
        yield
    except ClientError as exc:
        raise TransientError(f"{what} failed: {error_code(exc) or 'ClientError'}: {exc}") from exc
    except BotoCoreError as exc:
        raise TransientError(f"{what} failed: {type(exc).__name__}: {exc}") from exc
