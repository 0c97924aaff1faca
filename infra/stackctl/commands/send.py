"""`send EVENT_FILE [--to function|trigger]`: replay a sample event from events/."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from stackctl import aws, event_replay, stack
from stackctl.api_client import ApiClient
from stackctl.aws_errors import reported_as_user_errors
from stackctl.function_names import function_name, function_of_event_file
from stackctl.lambda_invoke import invoke, readable
from stackctl.stack import StackOutputs

# The queue each SQS-triggered function reads, as a stack output.
TRIGGER_QUEUES = {
    "worker": "QueueUrl",
    "dead-letter": "DlqUrl",
    "mailer": "MailQueueUrl",
    "webhook": "WebhookQueueUrl",
    "export": "ExportQueueUrl",
}


@reported_as_user_errors
def cmd_send(args: argparse.Namespace) -> int:
    path = Path(args.event_file)
    event = event_replay.load_event(path)
    if path.name.startswith(event_replay.BUS_EVENT_PREFIX):
        # A task event has no function of its own: the bus is its trigger, rules route it on.
        return _put_on_bus(stack.outputs(), event)
    short_name = function_of_event_file(path)
    outputs = stack.outputs()
    if args.to == "function":
        return _invoke_function(outputs, short_name, event, path)
    if short_name == "api":
        return _call_api(outputs, event)
    if short_name in TRIGGER_QUEUES:
        return _send_to_queue(outputs, short_name, event)
    if short_name == "alerts":
        return _publish_to_alarm_topic(outputs, event)
    # EventBridge cannot fire a schedule rule on demand (put_events does not match `rate()`
    # rules), so the closest thing to the real trigger is the scheduled event itself.
    print("A schedule cannot be fired on demand: invoking the function with the scheduled event.")
    return _invoke_function(outputs, short_name, event, path)


def _invoke_function(
    outputs: StackOutputs, short_name: str, event: dict[str, Any], path: Path
) -> int:
    name = function_name(outputs, short_name)
    result = invoke(name, event)
    if not result.succeeded:
        print(f"{name} raised ({result.function_error}) on {path.name}:")
        print(readable(result.payload))
        return 1
    print(f"{name} answered {path.name}:")
    print(readable(result.payload))
    return 0


def _call_api(outputs: StackOutputs, event: dict[str, Any]) -> int:
    request = event_replay.http_request_of(event)
    client = ApiClient.for_stack(outputs)
    response = client.request(
        request.method,
        request.path,
        query=request.query,
        body=request.body,
        headers=request.headers,
    )
    print(f"{request.method} {client.url(request.path, request.query)} -> HTTP {response.status}")
    document = response.json()
    body = response.body.decode(errors="replace")
    print(json.dumps(document, indent=2) if document is not None else body)
    # A 4xx is the API answering cleanly (an unknown task is a 404); only 5xx means trouble.
    return 0 if response.status < 500 else 1


def _put_on_bus(outputs: StackOutputs, event: dict[str, Any]) -> int:
    bus_name = outputs["EventBusName"]
    entry = event_replay.bus_entry_of(event, bus_name)
    response = aws.client("events").put_events(Entries=[entry])
    result = response["Entries"][0]
    if response.get("FailedEntryCount"):
        print(f"The bus refused the event: {result.get('ErrorCode')}: {result.get('ErrorMessage')}")
        return 1
    print(f"put {entry['DetailType']!r} on bus {bus_name} (event id {result.get('EventId')});")
    print("every rule on the bus that matches it delivers it to its targets.")
    return 0


def _send_to_queue(outputs: StackOutputs, short_name: str, event: dict[str, Any]) -> int:
    queue_url = outputs[TRIGGER_QUEUES[short_name]]
    sqs = aws.client("sqs")
    bodies = event_replay.sqs_bodies_of(event)
    for body in bodies:
        message_id = sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"]
        print(f"sent message {message_id}")
    queue_name = queue_url.rsplit("/", 1)[-1]
    print(f"{len(bodies)} message(s) sent to {queue_name}; {short_name} picks them up.")
    print(f"See what it did with `sheetflow logs {short_name} --since 1m`.")
    return 0


def _publish_to_alarm_topic(outputs: StackOutputs, event: dict[str, Any]) -> int:
    """Each SNS record's message published to the alarm topic, as CloudWatch would."""
    sns = aws.client("sns")
    for record in event.get("Records", []):
        sns.publish(TopicArn=outputs["AlarmTopicArn"], Message=record["Sns"]["Message"])
    print(f"{len(event.get('Records', []))} notification(s) published to the alarm topic.")
    print("See them with `sheetflow alerts --since 5m`.")
    return 0


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "send", help="send a sample event (events/*.json) to its function or its real trigger"
    )
    parser.add_argument(
        "event_file",
        metavar="EVENT_FILE",
        help="e.g. events/api-health.json; bus-*.json files are put on the stack's event bus",
    )
    parser.add_argument(
        "--to",
        choices=["function", "trigger"],
        default="function",
        help="function: invoke it with the event (default); trigger: go through the queue or "
        "the HTTP API as the event's source would",
    )
    parser.set_defaults(handler=cmd_send)
