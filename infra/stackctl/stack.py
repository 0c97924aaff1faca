"""The deployed application stack: deploying it, and finding its resources from its outputs."""

from __future__ import annotations

import os
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from stackctl import aws, localstack, paths, sam
from stackctl.errors import UserFacingError

DEFAULT_STACK_NAME = "sheetflow"


def stack_name() -> str:
    return os.environ.get("SHEETFLOW_STACK", DEFAULT_STACK_NAME)


@dataclass(frozen=True)
class StackOutputs:
    values: dict[str, str]

    def __getitem__(self, key: str) -> str:
        return self.values[key]

    @property
    def api_base_url(self) -> str:
        """The REST API's Prod stage, through LocalStack's offline-friendly invoke path."""
        return f"{localstack.endpoint_url()}/_aws/execute-api/{self['ApiId']}/Prod"


def outputs(name: str | None = None) -> StackOutputs:
    """Outputs of the live stack; a clear error when LocalStack is down or nothing is deployed."""
    name = name or stack_name()
    if localstack.health() is None:
        raise UserFacingError(
            f"LocalStack is not running at {localstack.endpoint_url()}.",
            "Start it and deploy the stack with `make deploy`.",
        )
    try:
        stacks = aws.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except (ClientError, BotoCoreError) as error:
        raise UserFacingError(
            f"The stack {name!r} is not deployed ({error}).", "Deploy it with `make deploy`."
        ) from error
    # LocalStack also lists deleted stacks under their name: only a live one counts.
    live = [s for s in stacks if s["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")]
    if not live:
        statuses = ", ".join(s["StackStatus"] for s in stacks) or "none"
        raise UserFacingError(
            f"The stack {name!r} is not deployed (status: {statuses}).",
            "Deploy it with `make deploy`.",
        )
    return StackOutputs({o["OutputKey"]: o["OutputValue"] for o in live[0].get("Outputs", [])})


def is_deployed(name: str | None = None) -> bool:
    """Whether a live stack of that name exists (LocalStack must be running)."""
    try:
        outputs(name)
    except UserFacingError:
        return False
    return True


def deploy(name: str | None = None, parameters: dict[str, str] | None = None) -> StackOutputs:
    """sam build + samlocal deploy of template.yaml; a no-op deploy when nothing changed."""
    name = name or stack_name()
    root = paths.project_root()
    # A build folder per stack: deploys of different stacks may run at the same time.
    built = sam.build(root / "template.yaml", paths.instance_dir() / "build" / name)
    sam.deploy(built, name, parameters)
    deployed = outputs(name)
    # SES sends only from verified identities. On AWS that is an operator's step (DNS or a
    # confirmation mail); LocalStack verifies at once, so the local deploy does it.
    if "MailFrom" in deployed.values:
        aws.client("ses").verify_email_identity(EmailAddress=deployed["MailFrom"])
    return deployed
