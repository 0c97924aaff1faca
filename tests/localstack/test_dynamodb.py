"""DynamoDB served offline (moto behind LocalStack): tables by API and by CloudFormation."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.support.aws import AwsClientFactory
from tests.support.waiting import wait_until

pytestmark = pytest.mark.localstack


def test_table_by_api_with_conditional_writes_and_ttl(aws: AwsClientFactory) -> None:
    dynamodb = aws("dynamodb")
    table = f"tasks-{uuid.uuid4().hex[:10]}"
    dynamodb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "task_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "task_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}

    # A create-if-absent write succeeds once, then the condition rejects it
    item = {"task_id": {"S": "t1"}, "status": {"S": "QUEUED"}}
    dynamodb.put_item(
        TableName=table, Item=item, ConditionExpression="attribute_not_exists(task_id)"
    )
    with pytest.raises(ClientError) as rejected:
        dynamodb.put_item(
            TableName=table, Item=item, ConditionExpression="attribute_not_exists(task_id)"
        )
    assert rejected.value.response["Error"]["Code"] == "ConditionalCheckFailedException"

    # A transition guarded by the current status happens once
    def transition() -> None:
        dynamodb.update_item(
            TableName=table,
            Key={"task_id": {"S": "t1"}},
            UpdateExpression="SET #s = :next",
            ConditionExpression="#s = :expected",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":next": {"S": "PROCESSING"}, ":expected": {"S": "QUEUED"}},
        )

    transition()
    with pytest.raises(ClientError) as second:
        transition()
    assert second.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    stored = dynamodb.get_item(TableName=table, Key={"task_id": {"S": "t1"}})["Item"]
    assert stored["status"] == {"S": "PROCESSING"}
    dynamodb.delete_table(TableName=table)


def test_table_by_cloudformation(aws: AwsClientFactory) -> None:
    cloudformation = aws("cloudformation")
    stack = f"table-stack-{uuid.uuid4().hex[:8]}"
    template = {
        "Resources": {
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "status", "AttributeType": "S"},
                    ],
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": "by-status",
                            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                            "Projection": {"ProjectionType": "ALL"},
                        }
                    ],
                    "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                },
            }
        },
        "Outputs": {"TableName": {"Value": {"Ref": "Table"}}},
    }
    cloudformation.create_stack(StackName=stack, TemplateBody=json.dumps(template))

    def finished() -> dict[str, object] | None:
        description = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        return description if not description["StackStatus"].endswith("IN_PROGRESS") else None

    description = wait_until(finished, timeout=60, what="the stack to finish")
    assert description["StackStatus"] == "CREATE_COMPLETE"
    table = description["Outputs"][0]["OutputValue"]  # type: ignore[index]
    table_description = aws("dynamodb").describe_table(TableName=table)["Table"]
    assert table_description["GlobalSecondaryIndexes"][0]["IndexName"] == "by-status"
    ttl = aws("dynamodb").describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED"
    cloudformation.delete_stack(StackName=stack)
