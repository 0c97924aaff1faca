"""AWS SDK failures turned into errors for the terminal: one line, no traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from stackctl.errors import UserFacingError


def reported_as_user_errors[**P, R](command: Callable[P, R]) -> Callable[P, R]:
    """Wraps a command handler so an SDK error reaches the user as `error: …` with a hint."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (ClientError, BotoCoreError) as error:
            raise UserFacingError(
                f"An AWS call failed: {error}",
                "Check LocalStack and the stack with `sheetflow status`; "
                "`make deploy` starts and deploys them.",
            ) from error

    return wrapper
