"""The dashboard driven through Chromium against the deployed stack: uploads through the page,
a broken file, two uploads at once, a redrive from the page, and the health strip under a
backlog. Each test leaves screenshots (see conftest.py)."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import uuid
from typing import Any

import openpyxl
import pytest
import requests
from playwright.sync_api import FilePayload, Page, expect

from stackctl import cli, paths, samples
from stackctl.stack import StackOutputs
from tests.browser.conftest import Dashboard
from tests.support.aws import AwsClientFactory
from tests.support.e2e import E2E_STACK, Api, FunctionSettings
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.localstack, pytest.mark.e2e, pytest.mark.browser]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FINISH_TIMEOUT_MS = 90_000
# `make screenshot` sets this: the demo test's wide capture becomes the README's picture.
README_SHOT = os.environ.get("SHEETFLOW_README_SCREENSHOT")


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}.xlsx"


def sales_workbook(rows: int) -> tuple[bytes, dict[str, Any]]:
    """A workbook with known figures: the sums the page must show, and two Excel error cells."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Sales"
    sheet.append(["region", "units", "price", "check"])
    units, prices = [], []
    for index in range(rows):
        unit = index * 7 % 17 + 1
        price = 0.25 * (index % 13 + 1)  # quarters: their sums are exact in binary floating point
        units.append(unit)
        prices.append(price)
        sheet.append([f"region-{index % 4}", unit, price, index])
    # Error values openpyxl stores as error cells (t="e"), as Excel would.
    sheet["D5"] = "#DIV/0!"
    sheet["D9"] = "#N/A"
    buffer = io.BytesIO()
    book.save(buffer)
    expected = {
        "rows": rows + 1,
        "units_sum": sum(units),
        "price_sum": sum(prices),
        "error_cells": ["D5 #DIV/0!", "D9 #N/A"],
    }
    return buffer.getvalue(), expected


def as_page_number(value: float) -> str:
    """How the page prints a number (integers plainly, others to at most 4 decimals)."""
    return str(int(value)) if value == int(value) else repr(round(value, 4))


def drop_files(page: Page, files: list[tuple[str, bytes]]) -> None:
    """Drag and drop: a real DataTransfer with File objects, dropped on the drop zone."""
    payload = [
        {"name": name, "type": XLSX, "data": base64.b64encode(data).decode()}
        for name, data in files
    ]
    transfer = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const file of files) {
                const raw = atob(file.data);
                const bytes = Uint8Array.from(raw, (character) => character.charCodeAt(0));
                transfer.items.add(new File([bytes], file.name, { type: file.type }));
            }
            return transfer;
        }""",
        payload,
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})


def chosen(name: str, data: bytes) -> FilePayload:
    """A file as the file picker hands it to the page."""
    return {"name": name, "mimeType": XLSX, "buffer": data}


def upload_line(dashboard: Dashboard, filename: str) -> Any:
    return dashboard.page.locator(f'#uploads li[data-filename="{filename}"]')


def test_the_demo_tasks_are_shown_with_their_outcomes(
    dashboard: Dashboard, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given `sheetflow demo` has run on the stack (two good workbooks, one broken file)
    monkeypatch.setenv("SHEETFLOW_STACK", E2E_STACK)
    assert cli.main(["demo"]) == 0
    printed = capsys.readouterr().out
    task_ids = re.findall(r"-> task ([0-9a-f]{32})", printed)
    assert len(task_ids) == 3, printed
    # When the dashboard opens at the address the demo printed last: the page, with the demo
    # client's key in the URL fragment
    printed_url = printed.strip().splitlines()[-1].strip()
    page_url, _, fragment = printed_url.partition("#key=")
    assert page_url == dashboard.url.partition("#")[0] and fragment
    dashboard.url = printed_url
    page = dashboard.open().page
    # Then the key moved from the address bar into the tab's storage
    assert "#key=" not in page.url
    assert page.evaluate("sessionStorage.getItem('sheetflow.apiKey')") == fragment
    # Then it lists the three tasks with their outcomes
    for task_id, outcome in zip(task_ids, ["SUCCEEDED", "SUCCEEDED", "FAILED"], strict=True):
        row = page.locator(f'#task-rows tr[data-task-id="{task_id}"]')
        expect(row.locator(".status")).to_have_text(outcome)
    # And the API upload's detail shows its sheet
    page.locator(f'#task-rows tr[data-task-id="{task_ids[0]}"]').click()
    expect(page.get_by_test_id("sheet")).to_contain_text("501 rows")
    wide, _ = dashboard.screenshot()
    if README_SHOT:
        target = paths.project_root() / README_SHOT
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wide, target)


def test_an_uploaded_workbook_succeeds_and_its_detail_shows_its_statistics(
    dashboard: Dashboard, api: Api
) -> None:
    # Given a workbook whose figures the test knows
    data, expected = sales_workbook(40)
    filename = unique("sales")
    page = dashboard.open().page
    # When it is chosen with the file picker
    page.set_input_files("#file-input", files=[chosen(filename, data)])
    line = upload_line(dashboard, filename)
    expect(line).to_have_attribute("data-state", "done", timeout=FINISH_TIMEOUT_MS)
    expect(line.locator("progress")).to_have_attribute("value", "100")
    # Then its row turns SUCCEEDED
    row = dashboard.row(filename)
    expect(row.locator(".status")).to_have_text("SUCCEEDED", timeout=FINISH_TIMEOUT_MS)
    # And its detail shows the timeline, the figures and the error cells of the workbook
    row.click()
    detail = page.get_by_test_id("detail")
    expect(detail).to_have_attribute("data-status", "SUCCEEDED")
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text("Created")
    expect(timeline).to_contain_text("Claimed by the worker (attempt 1)")
    expect(timeline).to_contain_text("Succeeded (attempt 1)")
    sheet = page.locator('[data-testid="sheet"][data-sheet="Sales"]')
    expect(sheet).to_contain_text(f"{expected['rows']} rows")
    expect(sheet.locator('tr[data-column="B"] [data-testid="sum"]')).to_have_text(
        as_page_number(expected["units_sum"])
    )
    expect(sheet.locator('tr[data-column="C"] [data-testid="sum"]')).to_have_text(
        as_page_number(expected["price_sum"])
    )
    expect(sheet.get_by_test_id("error-cells").locator("li")).to_have_text(expected["error_cells"])
    expect(page.get_by_test_id("result-link")).to_have_attribute(
        "href", re.compile(r"/results/[0-9a-f]{32}\.json\?")
    )
    # And the API agrees about the task the page showed
    task_id = line.get_attribute("data-task-id")
    assert task_id is not None
    task = api.task(task_id)
    assert task is not None and task["status"] == "SUCCEEDED"
    dashboard.screenshot()


def test_a_broken_file_fails_with_its_reason_in_words(dashboard: Dashboard, api: Api) -> None:
    # Given a CSV renamed .xlsx
    filename = unique("not-a-workbook")
    page = dashboard.open().page
    # When it is uploaded through the page
    page.set_input_files(
        "#file-input",
        files=[chosen(filename, samples.broken_file("csv"))],
    )
    line = upload_line(dashboard, filename)
    expect(line).to_have_attribute("data-task-status", "FAILED", timeout=FINISH_TIMEOUT_MS)
    task_id = line.get_attribute("data-task-id")
    assert task_id is not None
    error = api.wait_finished(task_id)["error"]
    assert error["code"] == "NOT_XLSX"
    # Then its row is FAILED and the detail gives the code and the message
    row = dashboard.row(filename)
    expect(row.locator(".status")).to_have_text("FAILED")
    row.focus()
    page.keyboard.press("Enter")  # the list is keyboard reachable
    shown = page.get_by_test_id("detail-error")
    expect(shown).to_contain_text(error["code"])
    expect(shown).to_contain_text(error["message"])
    expect(line).to_contain_text(error["message"])
    dashboard.screenshot()


def test_an_upload_the_api_refuses_shows_the_api_message(dashboard: Dashboard, api: Api) -> None:
    # Given an empty file (its declared size, 0, is one the API refuses), and the API's own
    # message for that request
    filename = unique("empty")
    refusal = api.http.post(
        f"{api.base_url}/uploads/presign", json={"filename": filename, "size": 0}, timeout=30
    )
    assert refusal.status_code == 400, refusal.text
    message = refusal.json()["error"]["message"]
    page = dashboard.open().page
    # When it is chosen
    page.set_input_files("#file-input", files=[chosen(filename, b"")])
    # Then the line says why, in the API's words, and nothing was sent
    line = upload_line(dashboard, filename)
    expect(line).to_have_attribute("data-state", "failed")
    expect(line).to_contain_text(message)
    assert line.get_attribute("data-task-id") is None
    dashboard.screenshot()


def test_two_uploads_at_once_both_progress_to_the_end(dashboard: Dashboard, api: Api) -> None:
    # Given two workbooks dropped on the page together
    first, second = unique("orders-a"), unique("orders-b")
    page = dashboard.open().page
    workbook = samples.orders_workbook(3000)
    drop_files(page, [(first, workbook), (second, workbook)])
    # Then both uploads run to the end, each with its own progress bar
    for filename in (first, second):
        line = upload_line(dashboard, filename)
        expect(line).to_have_attribute("data-state", "done", timeout=FINISH_TIMEOUT_MS)
        expect(line.locator("progress")).to_have_attribute("value", "100")
        expect(dashboard.row(filename).locator(".status")).to_have_text("SUCCEEDED")
        task_id = line.get_attribute("data-task-id")
        assert task_id is not None
        task = api.task(task_id)
        assert task is not None and task["size"] == len(workbook)
    dashboard.screenshot()


def test_a_parked_dead_letter_is_redriven_from_the_page(
    dashboard: Dashboard,
    api: Api,
    aws: AwsClientFactory,
    outputs: StackOutputs,
    function_settings: FunctionSettings,
) -> None:
    sqs = aws("sqs")
    sqs.purge_queue(QueueUrl=outputs["FailedQueueUrl"])
    filename = unique("doomed")
    page = dashboard.open().page
    # Given a task whose every attempt failed (its results bucket is missing), parked as a dead
    # letter
    with function_settings.overridden(
        outputs["WorkerFunctionName"],
        {"RESULTS_BUCKET": f"never-created-{uuid.uuid4().hex[:8]}", "RETRY_BASE_SECONDS": "1"},
    ):
        page.set_input_files(
            "#file-input",
            files=[chosen(filename, samples.orders_workbook(10))],
        )
        line = upload_line(dashboard, filename)
        expect(line).to_have_attribute("data-task-status", "FAILED", timeout=FINISH_TIMEOUT_MS)
        task_id = line.get_attribute("data-task-id")
        assert task_id is not None
        parked = page.locator(f'[data-testid="letter"][data-task-id="{task_id}"]')
        expect(parked).to_contain_text("RETRIES_EXHAUSTED", timeout=FINISH_TIMEOUT_MS)
        expect(parked).to_contain_text(filename)
    dashboard.screenshot("parked")
    # When the operator redrives, the page asks first
    page.get_by_role("button", name="Redrive …").click()
    confirm = page.get_by_role("alertdialog")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("Move 1 parked message(s) back to the task queue?")
    dashboard.screenshot("confirm")
    confirm.get_by_role("button", name="Move them to the task queue").click()
    expect(page.get_by_test_id("redrive-done")).to_contain_text("Moved 1 message(s)")
    # Then the task runs again and succeeds, and nothing is parked any more
    row = dashboard.row(filename)
    expect(row.locator(".status")).to_have_text("SUCCEEDED", timeout=FINISH_TIMEOUT_MS)
    expect(parked).to_have_count(0)
    expect(line).to_have_attribute("data-task-status", "SUCCEEDED")
    task = api.task(task_id)
    assert task is not None and task["status"] == "SUCCEEDED" and task["attempts"] == 4
    dashboard.screenshot("redriven")


def queue_waiting(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_the_health_strip_shows_a_queue_backing_up_and_draining(
    dashboard: Dashboard, api: Api, aws: AwsClientFactory, outputs: StackOutputs
) -> None:
    lambda_client, sqs = aws("lambda"), aws("sqs")
    mapping = lambda_client.list_event_source_mappings(FunctionName=outputs["WorkerFunctionName"])[
        "EventSourceMappings"
    ][0]["UUID"]
    page = dashboard.open().page
    queued = page.get_by_test_id("health-queue").locator(".value")
    expect(queued).to_have_text("0", timeout=30_000)
    # Given the worker stops taking messages (its queue trigger is disabled)
    lambda_client.update_event_source_mapping(UUID=mapping, Enabled=False)
    task_ids: list[str] = []
    try:
        wait_until(
            lambda: lambda_client.get_event_source_mapping(UUID=mapping)["State"] == "Disabled",
            timeout=30,
            what="the worker's queue trigger to be disabled",
        )

        # When uploads keep arriving (one more while the queue still looks empty: a poll that
        # began before the trigger stopped may still take one)
        def backed_up() -> int:
            waiting = queue_waiting(sqs, outputs["QueueUrl"])
            if waiting < 2:
                response = api.upload(samples.orders_workbook(5), filename=unique("backlog"))
                task_ids.append(response.json()["task_id"])
            return waiting >= 2

        wait_until(backed_up, timeout=60, interval=0.5, what="a backlog in the task queue")
        # Then the strip shows the messages waiting, and the page says nothing is taking them
        expect(queued).not_to_have_text("0", timeout=30_000)
        expect(page.get_by_test_id("health-queue")).to_have_class("chip warn")
        expect(page.get_by_test_id("stall-hint")).to_contain_text("none is in flight")
        dashboard.screenshot("backed-up")
    finally:
        lambda_client.update_event_source_mapping(UUID=mapping, Enabled=True)
    # And once the worker takes messages again, the queue drains on the strip too
    expect(queued).to_have_text("0", timeout=FINISH_TIMEOUT_MS)
    expect(page.get_by_test_id("stall-hint")).to_have_count(0)
    for task_id in task_ids:
        assert api.wait_finished(task_id)["status"] == "SUCCEEDED"
    dashboard.screenshot("drained")


def test_the_bucket_lets_a_page_of_another_origin_put_a_presigned_upload(api: Api) -> None:
    # On AWS the page (execute-api) and the bucket (s3) are different origins.
    origin = "https://abc123.execute-api.us-east-1.amazonaws.com"
    grant = api.presign(unique("cors"))
    # Given the browser's preflight for a PUT with a content type
    preflight = requests.options(
        grant["upload_url"],
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=30,
    )
    # Then S3 allows it
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers.get("Access-Control-Allow-Origin") in (origin, "*")
    assert "PUT" in preflight.headers.get("Access-Control-Allow-Methods", "")
    assert "content-type" in preflight.headers.get("Access-Control-Allow-Headers", "").lower()
    # And the upload itself carries the header the browser checks
    put = requests.put(
        grant["upload_url"],
        data=samples.orders_workbook(3),
        headers={"Origin": origin, "Content-Type": XLSX},
        timeout=30,
    )
    assert put.status_code == 200, put.text
    assert put.headers.get("Access-Control-Allow-Origin") in (origin, "*")
    assert api.wait_finished(grant["task_id"])["status"] == "SUCCEEDED"
    # And the presigned POST form the page uses is allowed the same way
    form_preflight = requests.options(
        grant["upload"]["url"],
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        timeout=30,
    )
    assert form_preflight.status_code == 200, form_preflight.text
    assert form_preflight.headers.get("Access-Control-Allow-Origin") in (origin, "*")
