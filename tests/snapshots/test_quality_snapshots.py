"""Test questions and test runs belong to the unit (issue 20), on the whole stack: deleting the unit
removes them (and nothing of another unit), the snapshot taken at deletion holds them, and a
restore of that snapshot brings them back, with the run history as it was."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from stack.launcher import Stack
from tests.snapshots.conftest import login_ministry_admin, put_document, wait_for_status
from tests.snapshots.test_snapshot_stack import restore
from tests.support import unique_unit
from trolyao.keyvalue import live_keys
from trolyao.messaging import TEST_QUESTIONS_BUCKET, TEST_RUN_TRIGGERS_BUCKET, TEST_RUNS_BUCKET, connect

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]

DOCUMENT_ID = "tb-tat-song-2g"
DOCUMENT_TEXT = "Từ 15/9/2024 sẽ tắt sóng 2G theo quy định. Các nhà mạng cần có phương án hỗ trợ người dân."
QUESTIONS = {
    "tat-song-2g": {"question": "Khi nào tắt sóng 2G?", "expected_answer": "15/9/2024"},
    "gia-ve": {"question": "Giá vé máy bay từ Hà Nội đi Đà Nẵng là bao nhiêu?", "must_refuse": True},
}
RUN_TIMEOUT_SECONDS = 120.0
POLL_SECONDS = 0.5


def finished(client: httpx.Client, path: str) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        body = dict(client.get(path).json())
        if body["status"] != "running":
            return body
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"{path} still running")


def quality_keys(stack: Stack, unit: str) -> dict[str, list[str]]:
    """The unit's keys in each test-question bucket, read straight from NATS."""

    async def read() -> dict[str, list[str]]:
        client = await connect(stack.nats_url, name="test-quality-snapshots")
        try:
            js = client.jetstream()
            keys = {}
            for bucket in (TEST_QUESTIONS_BUCKET, TEST_RUNS_BUCKET, TEST_RUN_TRIGGERS_BUCKET):
                keys[bucket] = await live_keys(await js.key_value(bucket), f"{unit}.>")
            return keys
        finally:
            await client.drain()

    return asyncio.run(read())


def questions_of(client: httpx.Client, unit: str) -> dict[str, dict[str, Any]]:
    listed = client.get(f"/v1/units/{unit}/test-questions").json()
    return {q["question_id"]: q for q in listed["questions"]}


def test_unit_delete_removes_test_questions_and_runs_and_its_snapshot_brings_them_back(
    snapshot_stack: Stack, admin: httpx.Client
) -> None:
    unit, other = unique_unit("kiemtra"), unique_unit("khac")
    for name in (unit, other):
        admin.put(f"/v1/units/{name}", json={"name": f"Đơn vị {name}"}).raise_for_status()
    put_document(admin, unit, DOCUMENT_ID, "Thông báo tắt sóng 2G", DOCUMENT_TEXT, 1)
    wait_for_status(admin, unit, DOCUMENT_ID, "indexed")
    for question_id, body in QUESTIONS.items():
        assert admin.put(f"/v1/units/{unit}/test-questions/{question_id}", json=body).status_code == 201
    kept = {"question": "Câu của đơn vị khác?", "must_refuse": True}
    assert admin.put(f"/v1/units/{other}/test-questions/cua-don-vi-khac", json=kept).status_code == 201
    started = admin.post(f"/v1/units/{unit}/test-runs")
    assert started.status_code == 202, started.text
    run = finished(admin, started.headers["location"])
    assert (run["status"], run["correct"], run["must_refuse_right"]) == ("done", 1, 1), run
    before = questions_of(admin, unit)
    assert set(before) == set(QUESTIONS)
    assert quality_keys(snapshot_stack, unit)[TEST_RUNS_BUCKET]

    removal = admin.delete(f"/v1/units/{unit}")
    assert removal.status_code == 200, removal.text
    snapshot_id = removal.json()["snapshot_id"]
    assert snapshot_id
    assert quality_keys(snapshot_stack, unit) == {
        TEST_QUESTIONS_BUCKET: [],
        TEST_RUNS_BUCKET: [],
        TEST_RUN_TRIGGERS_BUCKET: [],
    }
    assert set(questions_of(admin, other)) == {"cua-don-vi-khac"}  # another unit's are untouched

    # The unit created again starts empty: none of its old questions or runs come back by themselves.
    admin.put(f"/v1/units/{unit}", json={"name": "Đơn vị tạo lại"}).raise_for_status()
    assert admin.get(f"/v1/units/{unit}/test-questions").json()["total"] == 0
    assert admin.get(f"/v1/units/{unit}/test-runs").json()["total"] == 0
    assert admin.get(f"/v1/units/{unit}/reports/answer-rate").json()["test_questions"] == 0

    # Restoring the snapshot taken at deletion brings back the questions and the run history.
    reply = restore(snapshot_stack, login_ministry_admin(snapshot_stack), snapshot_id, unit)
    assert reply.status_code == 200, reply.text
    assert questions_of(admin, unit) == before
    runs = admin.get(f"/v1/units/{unit}/test-runs").json()["runs"]
    assert run["run_id"] in {r["run_id"] for r in runs}
    again = admin.get(f"/v1/units/{unit}/test-runs/{run['run_id']}").json()
    assert (again["correct_rate"], again["results"]) == (run["correct_rate"], run["results"])
    dashboard = admin.get(f"/v1/units/{unit}/reports/answer-rate").json()
    assert (dashboard["test_questions"], dashboard["tested_correct_rate"]) == (2, 1.0)
    assert set(questions_of(admin, other)) == {"cua-don-vi-khac"}
