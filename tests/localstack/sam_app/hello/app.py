import os
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"greeting": os.environ["GREETING"], "name": event.get("name")}
