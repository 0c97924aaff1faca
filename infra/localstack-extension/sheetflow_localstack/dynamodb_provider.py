"""DynamoDB served by moto inside LocalStack.

LocalStack's own DynamoDB provider downloads DynamoDB Local (a Java program) on first use, which
fails on an offline machine. Every DynamoDB operation is instead dispatched to moto's in-memory
implementation, which LocalStack already ships. Selected with PROVIDER_OVERRIDE_DYNAMODB=moto.
"""

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.services.moto import MotoFallbackDispatcher
from localstack.services.plugins import Service, aws_provider


class MotoBackedDynamodbProvider(DynamodbApi):
    """No operation is implemented here: the dispatcher falls back to moto for all of them."""


@aws_provider(api="dynamodb", name="moto")  # type: ignore[untyped-decorator]
def dynamodb_moto() -> Service:
    return Service.for_provider(
        MotoBackedDynamodbProvider(), dispatch_table_factory=MotoFallbackDispatcher
    )
