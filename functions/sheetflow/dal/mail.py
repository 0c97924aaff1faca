"""SES: e-mail about finished tasks."""

from __future__ import annotations

from sheetflow.dal.clients import ses_client
from sheetflow.dal.errors import dependency_call
from sheetflow.logic.notifications import Mail


def send_mail(sender: str, recipient: str, mail: Mail) -> str:
    """Send one plain-text message; its SES message id. TransientError when SES refuses."""
    with dependency_call("SendEmail"):
        response = ses_client().send_email(
            Source=sender,
            Destination={"ToAddresses": [recipient]},
            Message={
                "Subject": {"Data": mail.subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": mail.body, "Charset": "UTF-8"}},
            },
        )
    return response["MessageId"]
