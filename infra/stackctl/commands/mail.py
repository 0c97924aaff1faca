"""`mail [--to ADDRESS]`: the e-mails the stack sent, from LocalStack's SES store."""

from __future__ import annotations

import argparse
import json
import urllib.request
from typing import Any

from stackctl import aws, localstack
from stackctl.aws_errors import reported_as_user_errors
from stackctl.errors import UserFacingError


def sent_messages() -> list[dict[str, Any]]:
    """Every message SES sent, as LocalStack keeps them (GET /_aws/ses)."""
    # The store's endpoint exists once the SES service is loaded: any SES call loads it.
    aws.client("ses").list_identities()
    url = f"{localstack.endpoint_url()}/_aws/ses"
    try:
        # The URL is LocalStack's own http endpoint, built above, never user input.
        with urllib.request.urlopen(url, timeout=30) as response:  # nosec B310
            document = json.loads(response.read())
    except (OSError, ValueError) as error:
        raise UserFacingError(
            f"Could not read the sent mail from {url}: {error}",
            "Is LocalStack running? `sheetflow status` tells. (On AWS, SES keeps no copies.)",
        ) from error
    messages: list[dict[str, Any]] = document.get("messages", [])
    return messages


@reported_as_user_errors
def cmd_mail(args: argparse.Namespace) -> int:
    messages = [
        message
        for message in sent_messages()
        if args.to is None or args.to in (message.get("Destination") or {}).get("ToAddresses", [])
    ]
    if not messages:
        print("No e-mail sent" + (f" to {args.to}." if args.to else "."))
        return 0
    for message in messages:
        to = ", ".join((message.get("Destination") or {}).get("ToAddresses", []))
        print(f"{message.get('Timestamp')}  to {to}  from {message.get('Source')}")
        print(f"  subject  {message.get('Subject')}")
        if args.body:
            text = (message.get("Body") or {}).get("text_part") or ""
            print("\n".join(f"  | {line}" for line in text.splitlines()))
    print(f"{len(messages)} message(s).")
    return 0


def register(commands: Any) -> None:
    parser = commands.add_parser("mail", help="list the e-mails sent (LocalStack's SES store)")
    parser.add_argument("--to", metavar="ADDRESS", help="only those sent to this address")
    parser.add_argument("--body", action="store_true", help="print each message's text too")
    parser.set_defaults(handler=cmd_mail)
