"""Short function names (api, worker, dead-letter, cleanup, watchdog, canary, alerts) and the
stack outputs they map to."""

from __future__ import annotations

from pathlib import Path

from stackctl.errors import UserFacingError
from stackctl.stack import StackOutputs

# Short name -> the stack output holding the deployed function's name.
FUNCTION_OUTPUTS = {
    "api": "ApiFunctionName",
    "worker": "WorkerFunctionName",
    "dead-letter": "DeadLetterFunctionName",
    "cleanup": "CleanupFunctionName",
    "scheduler": "SchedulerFunctionName",
    "mailer": "MailerFunctionName",
    "export": "ExportFunctionName",
    "webhook": "WebhookFunctionName",
    "watchdog": "WatchdogFunctionName",
    "canary": "CanaryFunctionName",
    "alerts": "AlertsFunctionName",
}
SHORT_NAMES = tuple(FUNCTION_OUTPUTS)


def function_name(outputs: StackOutputs, short_name: str) -> str:
    try:
        return outputs[FUNCTION_OUTPUTS[short_name]]
    except KeyError as error:
        raise UserFacingError(
            f"No function {short_name!r} in this stack.",
            f"Choose one of: {', '.join(SHORT_NAMES)}.",
        ) from error


def log_group(outputs: StackOutputs, short_name: str) -> str:
    return f"/aws/lambda/{function_name(outputs, short_name)}"


def function_of_event_file(path: Path) -> str:
    """The short name a sample event belongs to, from its file name (`worker-…` -> worker)."""
    # Longest prefix first: `dead-letter-` must not be read as some shorter name.
    for short_name in sorted(SHORT_NAMES, key=len, reverse=True):
        if path.name.startswith(f"{short_name}-"):
            return short_name
    raise UserFacingError(
        f"{path.name}: cannot tell which function this event is for.",
        "Sample event files start with the function's short name: "
        + ", ".join(f"{name}-*.json" for name in SHORT_NAMES)
        + " (see events/README.md).",
    )
