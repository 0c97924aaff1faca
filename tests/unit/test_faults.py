"""The fault hook of chaos runs: off unless SHEETFLOW_FAULTS is set, fires at its rate for its
services only, and what it injects is what botocore raises for the real failure."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.retries.standard import ExponentialBackoff

from sheetflow.config import ConfigError, StackConfig, fault_plan
from sheetflow.dal import clients, faults
from sheetflow.dal.errors import dependency_call
from sheetflow.logic.errors import TransientError
from sheetflow.logic.faults import FaultKind, FaultPlan, parse_fault_plan
from tests.unit.conftest import BUCKET, TABLE, Stack

BASE_ENV = {"TABLE_NAME": TABLE, "BUCKET_NAME": BUCKET}
QUEUE = "faults-test"


@pytest.fixture
def aws(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The moto stack and a queue of the test's own; no fault plan before or after the test.

    The SDK's pauses between retries (up to seconds each) are skipped: what is tested is what it
    retries and what it raises in the end, not how long it waits.
    """
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
    clients.enable_faults(None)
    clients.sqs_client().create_queue(QueueName=QUEUE)
    yield
    clients.enable_faults(None)


def only(kind: FaultKind, **rates: float) -> FaultPlan:
    return FaultPlan(rates=rates, seed=1, kinds=(kind,))


def test_no_variable_means_no_plan_and_no_hook(aws: None) -> None:
    # Given the environment of a deployed function, without SHEETFLOW_FAULTS
    config = StackConfig(**StackConfig.fields_from_env(BASE_ENV))
    # When the edge enables what the configuration says
    injector = clients.enable_faults(config.faults)
    # Then there is no plan, no injector, and 200 calls all go through
    assert config.faults is None
    assert injector is None and faults.active() is None
    s3 = clients.s3_client()
    for number in range(200):
        s3.put_object(Bucket=BUCKET, Key=f"k{number}", Body=b"x")
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 200


def test_the_variable_is_parsed_into_rates_and_a_seed() -> None:
    plan = fault_plan(
        {"SHEETFLOW_FAULTS": " s3=0.05, DynamoDB=0.1,sqs=0 ", "SHEETFLOW_FAULTS_SEED": "42"}
    )
    assert plan == FaultPlan(rates={"s3": 0.05, "dynamodb": 0.1, "sqs": 0.0}, seed=42)
    assert parse_fault_plan("   ") is None


@pytest.mark.parametrize(
    ("spec", "seed", "names"),
    [
        ("s3", "", "'s3' must be SERVICE=RATE"),
        ("redis=0.1", "", "'redis=0.1' must be SERVICE=RATE"),
        ("s3=lots", "", "fault rate 'lots' of s3 must be a number"),
        ("sqs=1.5", "", "fault rate of sqs must be between 0 and 1, not 1.5"),
        ("sqs=0.1", "soon", "fault seed 'soon' must be an integer"),
    ],
)
def test_a_bad_specification_is_refused_naming_the_bad_part(
    spec: str, seed: str, names: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        fault_plan({"SHEETFLOW_FAULTS": spec, "SHEETFLOW_FAULTS_SEED": seed})
    assert names in str(refused.value)
    assert "SHEETFLOW_FAULTS" in str(refused.value)


def test_it_fires_at_the_configured_rate_for_the_configured_services_only() -> None:
    # Given a plan failing a fifth of S3 calls and a tenth of DynamoDB calls, nothing else
    injector = faults.FaultInjector(FaultPlan(rates={"s3": 0.2, "dynamodb": 0.1}, seed=7))
    draws = 20_000
    # When each service draws many times
    fired = {
        service: sum(injector.draw(service) is not None for _ in range(draws))
        for service in ("s3", "dynamodb", "sqs", "events")
    }
    # Then each planned service fails near its rate (4 standard deviations), others never
    assert abs(fired["s3"] / draws - 0.2) < 4 * (0.2 * 0.8 / draws) ** 0.5
    assert abs(fired["dynamodb"] / draws - 0.1) < 4 * (0.1 * 0.9 / draws) ** 0.5
    assert fired["sqs"] == 0 and fired["events"] == 0


def test_the_same_seed_gives_the_same_sequence() -> None:
    plan = FaultPlan(rates={"s3": 0.3}, seed=99)
    first, second = faults.FaultInjector(plan), faults.FaultInjector(plan)
    assert [first.draw("s3") for _ in range(300)] == [second.draw("s3") for _ in range(300)]


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [(FaultKind.THROTTLING, 503, "SlowDown"), (FaultKind.SERVER_ERROR, 500, "InternalError")],
)
def test_s3_raises_the_configured_error_after_the_sdks_retries(
    aws: None, kind: FaultKind, status: int, code: str
) -> None:
    # Given every S3 attempt fails with one kind of fault
    seen: list[faults.InjectedFault] = []
    clients.enable_faults(only(kind, s3=1.0), seen.append)
    # When the adapters' S3 client makes one call
    with pytest.raises(ClientError) as raised:
        clients.s3_client().head_object(Bucket=BUCKET, Key="missing")
    # Then botocore raises that service error, after retrying each injected attempt
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert raised.value.response["Error"]["Code"] in (code, str(status))
    retries = raised.value.response["ResponseMetadata"]["RetryAttempts"]
    assert retries >= 1
    assert [(f.service, f.operation, f.kind) for f in seen] == [("s3", "HeadObject", kind)] * (
        retries + 1
    )


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        (FaultKind.THROTTLING, 400, "ThrottlingException"),
        (FaultKind.SERVER_ERROR, 500, "InternalServerError"),
    ],
)
def test_dynamodb_sqs_and_eventbridge_raise_the_configured_error(
    aws: None, kind: FaultKind, status: int, code: str
) -> None:
    seen: list[faults.InjectedFault] = []
    clients.enable_faults(only(kind, dynamodb=1.0, sqs=1.0, events=1.0), seen.append)
    table = clients.dynamodb_resource().Table(TABLE)
    calls: list[Callable[[], object]] = [
        lambda: table.get_item(Key={"task_id": "x"}),
        lambda: clients.sqs_client().get_queue_url(QueueName=QUEUE),
        lambda: clients.events_client().put_events(
            Entries=[{"Source": "sheetflow", "DetailType": "Test", "Detail": "{}"}]
        ),
    ]
    for call in calls:
        seen.clear()
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.response["Error"]["Code"] == code
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
        assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == len(seen) - 1 > 0
        assert len({fault.service for fault in seen}) == 1


def test_a_timeout_is_the_sdks_read_timeout_and_the_adapters_call_it_transient(aws: None) -> None:
    queue_url = clients.sqs_client().get_queue_url(QueueName=QUEUE)["QueueUrl"]
    seen: list[faults.InjectedFault] = []
    clients.enable_faults(only(FaultKind.TIMEOUT, sqs=1.0), seen.append)
    with pytest.raises(TransientError) as raised, dependency_call("Sending the task message"):
        clients.sqs_client().send_message(QueueUrl=queue_url, MessageBody="{}")
    # (every attempt timed out: the SDK retried before giving up)
    assert len(seen) > 1 and {fault.kind for fault in seen} == {FaultKind.TIMEOUT}
    assert isinstance(raised.value.__cause__, ReadTimeoutError)
    assert "ReadTimeoutError" in str(raised.value)


def test_the_sdks_retries_absorb_most_faults(aws: None) -> None:
    # Given a third of DynamoDB attempts failing, of every kind
    seen: list[faults.InjectedFault] = []
    clients.enable_faults(FaultPlan(rates={"dynamodb": 0.33}, seed=5), seen.append)
    table = clients.dynamodb_resource().Table(TABLE)
    # When 30 writes are made
    failed = 0
    for number in range(30):
        try:
            table.put_item(Item={"task_id": f"t{number}", "status": "QUEUED"})
        except (ClientError, ReadTimeoutError):
            failed += 1
    # Then faults were injected, of each kind, and the SDK's retries hid most of them
    assert {fault.kind for fault in seen} == set(FaultKind)
    assert failed < len(seen) / 3
    clients.enable_faults(None)
    stored = clients.dynamodb_resource().Table(TABLE).scan()["Items"]
    assert len(stored) >= 30 - failed
