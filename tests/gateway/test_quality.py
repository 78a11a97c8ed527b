"""Test questions and test runs per unit (issue 20) against the real stack: the unit's own questions,
runs through the citizens' answer path, runs after knowledge changes without anyone asking,
regressions named with the document and version that caused them, and the bar in the reports."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from stack.bench.quality_runs import measure_test_run
from stack.launcher import Stack
from tests.gateway.conftest import KnowledgeUnit, bearer, wait_until_settled
from tests.gateway.test_api_stack import client_for
from trolyao.messaging import connect, regression_subject

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]

DOCUMENT_ID = "tb-tat-song-2g"
FIRST_TEXT = "Từ 15/9/2024 sẽ tắt sóng 2G theo quy định. Các nhà mạng cần có phương án hỗ trợ người dân."
SECOND_TEXT = "Từ 1/10/2024 sẽ tắt sóng 2G theo quy định. Các nhà mạng cần có phương án hỗ trợ người dân."
DATE_QUESTION = "Khi nào tắt sóng 2G?"
OUT_OF_SCOPE_QUESTION = "Giá vé máy bay từ Hà Nội đi Đà Nẵng là bao nhiêu?"
RUN_TIMEOUT_SECONDS = 120.0
POLL_SECONDS = 0.5
PROBLEM_TYPE = "application/problem+json"


def wait_for_run(client: httpx.Client, path: str) -> dict[str, Any]:
    """Poll a run until it is no longer running."""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        reply = client.get(path)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        if body["status"] != "running":
            return body
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"{path} still running: {body}")


def run_started_after(run_id: str, moment: str) -> bool:
    """Whether a run (its id starts with its start in epoch milliseconds) started after an ISO time."""
    return int(run_id.partition("-")[0]) > datetime.fromisoformat(moment).timestamp() * 1000


def wait_for_new_run(
    client: httpx.Client, unit: str, after: str, trigger: str, *, started_after: str = ""
) -> dict[str, Any]:
    """The oldest finished run newer than `after` with the given trigger (nobody calls the run
    endpoint), started after `started_after` if given: a run of an earlier change may come first."""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        seen = client.get(f"/v1/units/{unit}/test-runs").json()["runs"]
        for run in reversed(seen):
            if started_after and not run_started_after(run["run_id"], started_after):
                continue
            if run["run_id"] > after and run["trigger"] == trigger and run["status"] != "running":
                return wait_for_run(client, f"/v1/units/{unit}/test-runs/{run['run_id']}")
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"no {trigger} run after {after}: {seen}")


def stream_messages(nats_url: str, subject: str) -> list[dict[str, Any]]:
    """Every message kept on `subject` (JetStream), decoded."""

    async def read() -> list[dict[str, Any]]:
        client = await connect(nats_url, name="test-quality")
        try:
            js = client.jetstream()
            subscription = await js.subscribe(
                subject, ordered_consumer=True, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
            )
            messages: list[dict[str, Any]] = []
            while True:
                try:
                    message = await subscription.next_msg(timeout=2.0)
                except Exception:
                    return messages
                messages.append(json.loads(message.data))
        finally:
            await client.drain()

    return asyncio.run(read())


def test_a_changed_document_triggers_a_run_that_names_the_regression_and_its_cause(
    running_stack: Stack, admin: httpx.Client, new_unit: Callable[[str], str], issue_key: Callable[..., str]
) -> None:
    unit = new_unit("kiem-tra")
    document = f"/v1/units/{unit}/documents/{DOCUMENT_ID}"
    admin.put(
        document, json={"title": "Thông báo tắt sóng 2G", "text": FIRST_TEXT, "version": 1}
    ).raise_for_status()
    assert wait_until_settled(admin, document)["status"] == "indexed"
    writer = client_for(running_stack.gateway_url, issue_key([unit], ["read", "write"]))
    with writer:
        created = writer.put(
            f"/v1/units/{unit}/test-questions/tat-song-2g",
            json={
                "question": DATE_QUESTION,
                "expected_answer": "15/9/2024",
                "expected_document_id": DOCUMENT_ID,
            },
        )
        assert created.status_code == 201, created.text
        refuse = writer.put(
            f"/v1/units/{unit}/test-questions/gia-ve",
            json={"question": OUT_OF_SCOPE_QUESTION, "must_refuse": True},
        )
        assert refuse.status_code == 201, refuse.text

        started = writer.post(f"/v1/units/{unit}/test-runs")
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        assert location == f"/v1/units/{unit}/test-runs/{started.json()['run_id']}"
        assert started.json()["trigger"] == "manual" and started.json()["status"] == "running"
        first = wait_for_run(writer, location)
        verdicts = {r["question_id"]: (r["verdict"], r["reason"], r["answer"]) for r in first["results"]}
        assert first["status"] == "done", first
        assert verdicts["tat-song-2g"][0] == "right", verdicts
        assert verdicts["gia-ve"][0] == "right", verdicts
        assert (
            first["correct_rate"],
            first["answerable"],
            first["correct"],
            first["wrong"],
            first["refused"],
        ) == (
            1.0,
            1,
            1,
            0,
            0,
        )
        assert first["regressions"] == []

        # Replace the decree; nobody calls the run endpoint.
        replaced = writer.put(
            document, json={"title": "Thông báo tắt sóng 2G", "text": SECOND_TEXT, "version": 2}
        )
        assert replaced.status_code == 202, replaced.text
        settled = wait_until_settled(writer, document)
        assert settled["version"] == 2
        second = wait_for_new_run(
            writer, unit, first["run_id"], "change", started_after=str(settled["updated_at"])
        )

    results = {r["question_id"]: r for r in second["results"]}
    changed = results["tat-song-2g"]
    assert changed["verdict"] in ("wrong", "refused"), results
    assert changed["verdict"] == "refused" or "1/10/2024" in changed["answer"], changed
    assert results["gia-ve"]["verdict"] == "right"
    # The previous run is the first one, or a run of the first upload's change that came after it.
    assert second["correct_rate"] == 0.0 and second["previous_run_id"] >= first["run_id"]
    (regression,) = second["regressions"]
    assert (regression["question_id"], regression["previous_verdict"], regression["verdict"]) == (
        "tat-song-2g",
        "right",
        changed["verdict"],
    )
    assert regression["changes"][0]["document_id"] == DOCUMENT_ID
    assert regression["changes"][0]["version"] == 2 and regression["changes"][0]["status"] == "indexed"

    events = stream_messages(running_stack.nats_url, regression_subject(unit))
    assert [e["runId"] for e in events] == [second["run_id"]]
    (regressed,) = events[0]["regressions"]
    assert regressed["questionId"] == "tat-song-2g" and regressed["verdict"] == changed["verdict"]
    assert (
        regressed["changes"][0]["documentId"] == DOCUMENT_ID and int(regressed["changes"][0]["version"]) == 2
    )

    table = admin.get("/v1/reports/answer-rates").json()
    row = next(r for r in table["units"] if r["unit"] == unit)
    assert row["test_questions"] == 2 and row["tested_correct_rate"] == 0.0
    assert row["last_test_run_at"] == second["finished_at"]
    dashboard = admin.get(f"/v1/units/{unit}/reports/answer-rate").json()
    assert (dashboard["test_questions"], dashboard["tested_correct_rate"]) == (2, 0.0)
    assert dashboard["last_test_run_id"] == second["run_id"]


def test_the_reports_show_the_helpful_rate_beside_the_answered_and_tested_rates(
    admin: httpx.Client, new_unit: Callable[[str], str]
) -> None:
    rated, silent = new_unit("danh-gia"), new_unit("im-lang")
    document = f"/v1/units/{rated}/documents/{DOCUMENT_ID}"
    admin.put(document, json={"title": "Thông báo tắt sóng 2G", "text": FIRST_TEXT}).raise_for_status()
    assert wait_until_settled(admin, document)["status"] == "indexed"
    for helpful in (True, True, False):
        asked = admin.post(f"/v1/units/{rated}/ask", json={"question": DATE_QUESTION}).json()
        assert asked["answered"] is True, asked
        reply = admin.post(
            f"/v1/units/{rated}/feedback", json={"question_id": asked["question_id"], "helpful": helpful}
        )
        assert reply.status_code == 202, reply.text
    dashboard = admin.get(f"/v1/units/{rated}/reports/answer-rate").json()
    assert (dashboard["answer_rate"], dashboard["helpful"], dashboard["not_helpful"]) == (1.0, 2, 1)
    assert (dashboard["feedback_count"], dashboard["helpful_rate"]) == (3, 0.6667)
    assert (dashboard["test_questions"], dashboard["tested_correct_rate"]) == (0, None)
    rows = {r["unit"]: r for r in admin.get("/v1/reports/answer-rates").json()["units"]}
    assert (rows[rated]["answer_rate"], rows[rated]["feedback_count"], rows[rated]["helpful_rate"]) == (
        1.0,
        3,
        0.6667,
    )
    assert (rows[rated]["test_questions"], rows[rated]["tested_correct_rate"]) == (0, None)
    assert (rows[silent]["feedback_count"], rows[silent]["helpful_rate"]) == (0, None)


def test_test_questions_crud_pagination_and_problems(
    admin: httpx.Client, new_unit: Callable[[str], str]
) -> None:
    unit = new_unit("cau-hoi")
    base = f"/v1/units/{unit}/test-questions"
    empty = admin.get(base).json()
    assert (empty["total"], empty["questions"]) == (0, [])
    for index in range(5):
        reply = admin.put(f"{base}/cau-{index}", json={"question": f"Câu {index}?", "expected_answer": "x"})
        assert reply.status_code == 201
    replaced = admin.put(f"{base}/cau-1", json={"question": "Câu một?", "expected_answer": "y"})
    assert replaced.status_code == 200 and replaced.json()["question"] == "Câu một?"
    page = admin.get(base, params={"offset": 1, "limit": 2}).json()
    assert page["total"] == 5 and [q["question_id"] for q in page["questions"]] == ["cau-1", "cau-2"]
    assert page["questions"][0]["expected_answer"] == "y"
    assert admin.delete(f"{base}/cau-4").status_code == 204
    assert admin.get(f"{base}/cau-4").status_code == 404
    assert admin.delete(f"{base}/cau-4").status_code == 404
    bad = admin.put(f"{base}/cau-9", json={"question": "Không có tiêu chí?"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(PROBLEM_TYPE)
    assert "tiêu chí" in bad.json()["detail"]
    assert admin.get(f"/v1/units/{unit}/test-runs").json() == {
        "unit": unit,
        "total": 0,
        "offset": 0,
        "limit": 50,
        "runs": [],
    }
    nothing = admin.post(f"/v1/units/{new_unit('trong')}/test-runs")
    assert nothing.status_code == 409 and nothing.json()["code"] == "no_test_questions"
    assert admin.get(f"/v1/units/{unit}/test-runs/1733300000000-abcdef").status_code == 404
    assert admin.get("/v1/units/khong-co-don-vi-nay/test-questions").status_code == 404


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8")


def test_a_500_row_import_keeps_497_reports_3_and_is_audited(
    running_stack: Stack, admin: httpx.Client, new_unit: Callable[[str], str], issue_key: Callable[..., str]
) -> None:
    unit = new_unit("nhap")
    rows = [["Mã", "Câu hỏi", "Đáp án mong đợi", "Phải từ chối"]]
    bad = {5: ["cau-a", "", "x", ""], 101: ["cau-b", "Câu hỏi?", "", ""], 400: ["Mã Sai", "Câu?", "x", ""]}
    for index in range(500):
        rows.append(bad.get(index + 2, [f"cau-{index}", f"Câu hỏi số {index}?", f"đáp án {index}", ""]))
    key = issue_key([unit], ["read", "write"])
    with client_for(running_stack.gateway_url, key) as writer:
        reply = writer.post(
            f"/v1/units/{unit}/test-questions/import",
            files={"file": ("bo-cau-hoi.csv", _csv(rows), "text/csv")},
        )
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert (body["imported"], body["created"], body["rejected"]) == (497, 497, 3)
        assert [p["line"] for p in body["problems"]] == [5, 101, 400]
        assert writer.get(f"/v1/units/{unit}/test-questions").json()["total"] == 497
        again = writer.post(
            f"/v1/units/{unit}/test-questions/import",
            files={"file": ("bo-cau-hoi.csv", _csv(rows), "text/csv")},
        ).json()
        assert (again["created"], again["updated"]) == (0, 497)
        junk = writer.post(
            f"/v1/units/{unit}/test-questions/import", files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")}
        )
        assert junk.status_code == 422 and "Câu hỏi" in junk.json()["detail"]
        assert writer.get(f"/v1/units/{unit}/test-questions").json()["total"] == 497
        writer.put(f"/v1/units/{unit}/test-questions/them", json={"question": "Thêm?", "must_refuse": True})
        assert writer.delete(f"/v1/units/{unit}/test-questions/them").status_code == 204
    with client_for(running_stack.gateway_url, issue_key([unit], ["read"])) as reader:
        assert reader.get(f"/v1/units/{unit}/test-questions").status_code == 200
        denied = reader.put(f"/v1/units/{unit}/test-questions/x", json={"question": "?", "must_refuse": True})
        assert denied.status_code == 403
        assert reader.post(f"/v1/units/{unit}/test-runs").status_code == 403

    audit = [e for e in stream_messages(running_stack.nats_url, "audit.unit") if e.get("unit") == unit]
    actions = [(e["action"], e["details"]) for e in audit]
    imports = [d for a, d in actions if a == "unit.test_questions_imported"]
    assert [(d["created"], d["updated"], d["rejected"]) for d in imports] == [
        ("497", "0", "3"),
        ("0", "497", "3"),
    ]
    assert ("unit.test_question_saved", {"question_id": "them", "created": "true"}) in actions
    assert ("unit.test_question_deleted", {"question_id": "them"}) in actions
    # The writer's changes have one actor (the unit itself was created, and audited, by the admin).
    question_changes = [e for e in audit if "test_question" in e["action"]]
    assert len({e["actor"] for e in question_changes}) == 1
    assert all(e["outcome"] == "success" for e in question_changes)


def test_a_unit_without_test_questions_shows_no_tested_rate(
    admin: httpx.Client, new_unit: Callable[[str], str]
) -> None:
    unit = new_unit("chua-co")
    row = next(r for r in admin.get("/v1/reports/answer-rates").json()["units"] if r["unit"] == unit)
    assert (row["test_questions"], row["tested_correct_rate"], row["last_test_run_at"]) == (0, None, None)
    admin.put(f"/v1/units/{unit}/test-questions/mot", json={"question": "Một?", "must_refuse": True})
    dashboard = admin.get(f"/v1/units/{unit}/reports/answer-rate").json()
    assert (dashboard["test_questions"], dashboard["tested_correct_rate"], dashboard["last_test_run_id"]) == (
        1,
        None,
        None,
    )


def test_unit_scoped_keys_see_only_their_units_test_questions(
    gateway_url: str, admin: httpx.Client, new_unit: Callable[[str], str], issue_key: Callable[..., str]
) -> None:
    mine, theirs = new_unit("cua-toi"), new_unit("cua-ho")
    admin.put(f"/v1/units/{theirs}/test-questions/bi-mat", json={"question": "Bí mật?", "must_refuse": True})
    with httpx.Client(base_url=gateway_url, headers=bearer(issue_key([mine], ["read", "write"]))) as client:
        assert client.get(f"/v1/units/{theirs}/test-questions").status_code == 403
        assert client.get(f"/v1/units/{theirs}/test-questions/bi-mat").status_code == 403
        assert client.get(f"/v1/units/{mine}/test-questions/bi-mat").status_code == 404
        assert client.get(f"/v1/units/{mine}/test-questions").json()["total"] == 0


def test_a_ministry_admin_spot_checks_a_unit_with_pasted_questions_not_saved_but_audited(
    running_stack: Stack, admin: httpx.Client, knowledge_unit: KnowledgeUnit, issue_key: Callable[..., str]
) -> None:
    unit = knowledge_unit.unit
    questions = [
        {"question": "Doanh thu năm 2023 là bao nhiêu?", "expected_answer": "1.200 TỶ đồng"},
        {"question": "Lợi nhuận sau thuế năm 2023 đạt bao nhiêu?", "expected_answer": "999 tỷ đồng"},
        {"question": OUT_OF_SCOPE_QUESTION, "must_refuse": True},
    ]
    before = admin.get(f"/v1/units/{unit}/test-questions").json()["total"]
    reply = admin.post(f"/v1/units/{unit}/spot-checks", json={"questions": questions})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert [r["verdict"] for r in body["results"]] == ["right", "wrong", "right"], body["results"]
    assert "999 tỷ đồng" in body["results"][1]["reason"]
    assert (body["answerable"], body["correct"], body["correct_rate"], body["must_refuse_right"]) == (
        2,
        1,
        0.5,
        1,
    )
    assert admin.get(f"/v1/units/{unit}/test-questions").json()["total"] == before
    assert admin.get(f"/v1/units/{unit}/test-runs").json()["total"] == 0
    unit_admin = issue_key([unit], ["read", "write", "admin"])
    with client_for(running_stack.gateway_url, unit_admin) as client:
        assert client.post(f"/v1/units/{unit}/spot-checks", json={"questions": questions}).status_code == 403
    audit = [
        e
        for e in stream_messages(running_stack.nats_url, "audit.unit")
        if e.get("unit") == unit and e["action"] == "unit.spot_check_run"
    ]
    assert [(e["actor"], e["details"]["questions"], e["details"]["correct"]) for e in audit] == [
        ("bootstrap", "3", "1")
    ]


def test_promoting_an_unanswered_question_creates_an_faq_entry_and_a_test_question_it_passes(
    running_stack: Stack, admin: httpx.Client, new_unit: Callable[[str], str], issue_key: Callable[..., str]
) -> None:
    unit = new_unit("nang-cap")
    question = "Bộ phận một cửa làm việc lúc mấy giờ?"
    answer = "Bộ phận một cửa làm việc từ 7 giờ 30 đến 17 giờ, thứ Hai đến thứ Sáu."
    with client_for(running_stack.gateway_url, issue_key([unit], ["read", "write"])) as staff:
        assert staff.post(f"/v1/units/{unit}/ask", json={"question": question}).json()["answered"] is False
        groups = staff.get(f"/v1/units/{unit}/reports/unanswered-questions").json()["groups"]
        assert [g["representative"] for g in groups] == [question]
        promoted = staff.post(
            f"/v1/units/{unit}/test-questions/promote",
            json={"question": question, "answer": answer, "expected_answer": "7 giờ 30"},
        )
        assert promoted.status_code == 201, promoted.text
        body = promoted.json()
        faq_id = body["faq_id"]
        assert body["document_id"] == f"faq-{faq_id}"
        assert body["test_question"]["question_id"] == faq_id
        assert body["test_question"]["expected_document_id"] == f"faq-{faq_id}"
        assert wait_until_settled(staff, f"/v1/units/{unit}/faq/{faq_id}")["answer"] == answer
        started = staff.post(f"/v1/units/{unit}/test-runs")
        assert started.status_code == 202, started.text
        run = wait_for_run(staff, started.headers["location"])
    (result,) = run["results"]
    assert (result["question_id"], result["verdict"]) == (faq_id, "right"), result
    assert result["citations"][0]["document_id"] == f"faq-{faq_id}"


def test_the_bench_times_a_500_question_run(
    running_stack: Stack, admin: httpx.Client, new_unit: Callable[[str], str]
) -> None:
    unit = new_unit("do-toc-do")
    document = f"/v1/units/{unit}/documents/bao-cao"
    admin.put(document, json={"title": "Báo cáo", "text": FIRST_TEXT}).raise_for_status()
    assert wait_until_settled(admin, document)["status"] == "indexed"
    questions = [
        (f"Câu hỏi số {index}: khi nào sẽ tắt sóng 2G theo quy định?", "bao-cao") for index in range(500)
    ]
    measured = measure_test_run(running_stack.gateway_url, running_stack.api_key, unit, questions)
    assert (measured["questions"], measured["status"]) == (500, "done"), measured
    assert measured["seconds"] > 0 and measured["correct_rate"] is not None
    # The upload's change-triggered run follows; let it finish so its load stays inside this test.
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        runs = admin.get(f"/v1/units/{unit}/test-runs").json()["runs"]
        if any(run["trigger"] == "change" and run["status"] != "running" for run in runs):
            break
        time.sleep(POLL_SECONDS)
