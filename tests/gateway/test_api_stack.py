"""The gateway's REST surface against the real stack: conversations, streaming, FAQ, documents,
feedback and reports, and the one error format."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from stack.bench.asks import run_ask_benchmark
from tests.gateway.conftest import (
    FAQ_ANSWER,
    FAQ_QUESTION,
    HTTP_TIMEOUT_SECONDS,
    KnowledgeUnit,
    bearer,
    wait_until_settled,
)

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]

PROBLEM_TYPE = "application/problem+json"


def client_for(gateway_url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=gateway_url, headers=bearer(key), timeout=HTTP_TIMEOUT_SECONDS)


def parse_sse(text: str) -> list[tuple[str, str]]:
    """(event, data) pairs of a text/event-stream body."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((fields.get("event", "message"), fields.get("data", "")))
    return events


def test_follow_up_is_asked_with_the_remembered_conversation(
    gateway_url: str, knowledge_unit: KnowledgeUnit
) -> None:
    with client_for(gateway_url, knowledge_unit.read_key) as client:
        ask = f"/v1/units/{knowledge_unit.unit}/ask"
        first = client.post(ask, json={"question": "Doanh thu năm 2023 của công ty là bao nhiêu?"})
        assert first.status_code == 200, first.text
        assert "1.200 tỷ" in first.json()["answer"]
        conversation_id = first.json()["conversation_id"]
        assert conversation_id

        follow_up = client.post(
            ask, json={"question": "còn lợi nhuận thì sao?", "conversation_id": conversation_id}
        )
        assert follow_up.status_code == 200, follow_up.text
        body = follow_up.json()
        assert body["answered"] is True, body
        assert "150 tỷ" in body["answer"]
        assert body["conversation_id"] == conversation_id
        assert body["citations"][0]["document_id"] == knowledge_unit.document_id

        # The same follow-up without the conversation id starts a new conversation. (Its answer
        # is not asserted: "lợi nhuận" alone legitimately finds the one passage that has it.)
        alone = client.post(ask, json={"question": "còn lợi nhuận thì sao?"}).json()
        assert alone["conversation_id"] != conversation_id

    # Another credential of the same unit cannot continue this conversation: it starts afresh.
    with client_for(gateway_url, knowledge_unit.write_key) as other:
        reply = other.post(
            f"/v1/units/{knowledge_unit.unit}/ask",
            json={"question": "còn lợi nhuận thì sao?", "conversation_id": conversation_id},
        ).json()
        # answered exactly as the same question with no history at all
        assert (reply["answered"], reply["answer"]) == (alone["answered"], alone["answer"])


def test_streamed_answer_arrives_as_server_sent_events(
    gateway_url: str, knowledge_unit: KnowledgeUnit
) -> None:
    with client_for(gateway_url, knowledge_unit.read_key) as client:
        question = {"question": "Thời hạn cấp giấy phép hoạt động báo chí điện tử là bao lâu?"}
        with client.stream("POST", f"/v1/units/{knowledge_unit.unit}/ask/stream", json=question) as reply:
            assert reply.status_code == 200
            assert reply.headers["content-type"].startswith("text/event-stream")
            assert reply.headers["cache-control"] == "no-cache" and reply.headers["x-accel-buffering"] == "no"
            wire = reply.read().decode()
            events = parse_sse(wire)
    # FastAPI's own SSE encoder, with the wire format clients already parse: one compact JSON line per
    # event, Vietnamese letters as they are
    assert wire.startswith('event: meta\ndata: {"question_id":"') and "30 ngày" in wire
    names = [name for name, _ in events]
    assert names[0] == "meta" and names[-1] == "done" and "delta" in names
    done = json.loads(events[-1][1])
    streamed = "".join(json.loads(data)["text"] for name, data in events if name == "delta")
    assert streamed == done["answer"]
    assert "30 ngày" in done["answer"]
    assert done["citations"][0]["document_id"] == knowledge_unit.document_id
    assert json.loads(events[0][1])["question_id"] == done["question_id"]


def test_stream_errors_are_problem_json_before_the_stream(
    gateway_url: str, knowledge_unit: KnowledgeUnit
) -> None:
    with client_for(gateway_url, knowledge_unit.read_key) as client:
        reply = client.post("/v1/units/khong-co-quyen/ask/stream", json={"question": "xin chào"})
    assert reply.status_code == 403
    assert reply.headers["content-type"].startswith(PROBLEM_TYPE)


def test_faq_entry_lifecycle_answers_from_the_curated_answer(
    gateway_url: str, new_unit: Callable[[str], str], issue_key: Callable[..., str]
) -> None:
    unit = new_unit("faq")
    with client_for(gateway_url, issue_key([unit], ["read", "write"])) as client:
        created = client.put(
            f"/v1/units/{unit}/faq/le-phi",
            json={
                "question": FAQ_QUESTION,
                "answer": FAQ_ANSWER,
                "category": "Cấp phép",
                "basis": "Thông tư 37/2023",
            },
        )
        assert created.status_code == 201, created.text  # created under the unit's own id
        assert created.json()["document_id"] == "faq-le-phi"
        assert wait_until_settled(client, f"/v1/units/{unit}/faq/le-phi")["status"] == "indexed"

        answer = client.post(
            f"/v1/units/{unit}/ask", json={"question": "le phi cap phep bao dien tu bao nhieu"}
        ).json()
        assert answer["answered"] is True, answer
        assert answer["answer_source"] == "faq"
        assert "500.000 đồng" in answer["answer"]
        assert answer["citations"][0]["question"] == FAQ_QUESTION  # an FAQ citation names its question

        updated = client.put(
            f"/v1/units/{unit}/faq/le-phi",
            json={
                "question": FAQ_QUESTION,
                "answer": "Từ năm 2025, lệ phí là 750.000 đồng cho mỗi giấy phép.",
            },
        )
        assert updated.status_code == 200
        assert updated.json()["created_at"] == created.json()["created_at"]
        assert wait_until_settled(client, f"/v1/units/{unit}/faq/le-phi")["status"] == "indexed"
        again = client.post(f"/v1/units/{unit}/ask", json={"question": FAQ_QUESTION}).json()
        assert "750.000 đồng" in again["answer"]

        listed = client.get(f"/v1/units/{unit}/faq").json()["entries"]
        assert [entry["faq_id"] for entry in listed] == ["le-phi"]
        # FAQ documents are managed through the FAQ API only.
        assert client.delete(f"/v1/units/{unit}/documents/faq-le-phi").status_code == 422

        assert client.delete(f"/v1/units/{unit}/faq/le-phi").status_code == 202
        assert client.get(f"/v1/units/{unit}/faq/le-phi").json()["code"] == "faq_not_found"
        assert wait_until_settled(client, f"/v1/units/{unit}/documents/faq-le-phi")["status"] == "deleted"
        gone = client.post(f"/v1/units/{unit}/ask", json={"question": FAQ_QUESTION}).json()
        assert "750.000" not in gone["answer"]


def test_document_put_reports_time_and_refuses_older_versions(
    gateway_url: str, new_unit: Callable[[str], str], issue_key: Callable[..., str]
) -> None:
    unit = new_unit("doc")
    with client_for(gateway_url, issue_key([unit], ["read", "write"])) as client:
        path = f"/v1/units/{unit}/documents/thong-bao"
        first = client.put(
            path, json={"title": "Thông báo", "text": "Hạn nộp báo cáo là ngày 15 hằng tháng.", "version": 5}
        )
        assert first.status_code == 202
        assert first.json()["updated_at"]
        assert first.json()["version"] == 5
        older = client.put(path, json={"title": "Thông báo", "text": "Bản cũ.", "version": 3})
        assert older.status_code == 409
        assert older.json()["code"] == "stale_version"
        upload = client.put(
            path,
            files={"file": ("thong-bao.md", "# Thông báo\nHạn nộp là ngày 20.".encode(), "text/markdown")},
            data={"title": "Thông báo mới", "version": "6"},
        )
        assert upload.status_code == 202, upload.text
        assert wait_until_settled(client, path)["version"] == 6
        assert [d["document_id"] for d in client.get(f"/v1/units/{unit}/documents").json()["documents"]] == [
            "thong-bao"
        ]



UPLOADS_WITH_OWN_TITLES = {
    # file name → (content, media type, the title the document gives itself)
    "huong-dan.md": (
        "# Hướng dẫn nộp hồ sơ trực tuyến\n\nNộp hồ sơ qua Cổng dịch vụ công quốc gia.\n",
        "text/markdown",
        "Hướng dẫn nộp hồ sơ trực tuyến",
    ),
    "trang.html": (
        "<html><head><title>Quy trình tiếp công dân</title></head>"
        "<body><p>Tiếp công dân vào sáng thứ Năm hằng tuần.</p></body></html>",
        "text/html",
        "Quy trình tiếp công dân",
    ),
}


def test_an_upload_without_a_title_keeps_the_documents_own_title(
    gateway_url: str, new_unit: Callable[[str], str], issue_key: Callable[..., str]
) -> None:
    """Multipart without `title` (as the console uploads): the document's own title, not its file name."""
    unit = new_unit("tit")
    with client_for(gateway_url, issue_key([unit], ["read", "write"])) as client:
        for filename, (content, media_type, title) in UPLOADS_WITH_OWN_TITLES.items():
            path = f"/v1/units/{unit}/documents/{filename.split('.')[0]}"
            upload = client.put(path, files={"file": (filename, content.encode(), media_type)})
            assert upload.status_code == 202, upload.text
            settled = wait_until_settled(client, path)
            assert settled["status"] == "indexed", settled
            assert settled["title"] == title

def test_feedback_and_reports(
    gateway_url: str,
    knowledge_unit: KnowledgeUnit,
    admin: httpx.Client,
) -> None:
    unit = knowledge_unit.unit
    with client_for(gateway_url, knowledge_unit.read_key) as client:
        answered = client.post(
            f"/v1/units/{unit}/ask", json={"question": "Doanh thu năm 2023 là bao nhiêu?"}
        ).json()
        assert answered["answered"] is True
        for question in ("Thủ tục đăng ký kết hôn gồm những gì?", "thu tuc dang ky ket hon can giay to gi"):
            assert (
                client.post(f"/v1/units/{unit}/ask", json={"question": question}).json()["answered"] is False
            )
        verdict = client.post(
            f"/v1/units/{unit}/feedback",
            json={
                "question_id": answered["question_id"],
                "helpful": False,
                "comment": "Thiếu số liệu quý 4.",
            },
        )
        assert verdict.status_code == 202, verdict.text
        unknown = client.post(f"/v1/units/{unit}/feedback", json={"question_id": "khong-co", "helpful": True})
        assert unknown.status_code == 404 and unknown.json()["code"] == "question_not_found"

        rate = client.get(f"/v1/units/{unit}/reports/answer-rate").json()
        assert rate["total"] >= 3 and rate["answered"] < rate["total"]
        assert rate["not_helpful"] >= 1
        assert rate["target"] == 0.9 and rate["meets_target"] is False
        assert sum(day["total"] for day in rate["daily"]) == rate["total"]

        groups = client.get(f"/v1/units/{unit}/reports/unanswered-questions").json()["groups"]
        marriage = [g for g in groups if "kết hôn" in g["representative"] or "ket hon" in g["representative"]]
        assert len(marriage) == 1 and marriage[0]["count"] == 2 and marriage[0]["unanswered"] == 2
        rated = [g for g in groups if g["not_helpful"]]
        assert rated and rated[0]["examples"][0]["comment"] == "Thiếu số liệu quý 4."

        bad_window = client.get(
            f"/v1/units/{unit}/reports/answer-rate",
            params={"since": "2026-01-01T00:00:00Z", "until": "2025-01-01T00:00:00Z"},
        )
        assert bad_window.status_code == 422
        assert client.get("/v1/reports/answer-rates").status_code == 403

    table = admin.get("/v1/reports/answer-rates").json()
    rows = {row["unit"]: row for row in table["units"]}
    assert rows[unit]["meets_target"] is False and rows[unit]["total"] >= 3
    assert table["units_below_target"] >= 1
    assert table["units_meeting_target"] + table["units_below_target"] + table[
        "units_without_questions"
    ] == len(rows)


def test_every_error_is_problem_json(gateway_url: str, admin: httpx.Client) -> None:
    cases = [
        (httpx.get(f"{gateway_url}/v1/units"), 401, "unauthenticated"),
        (admin.get("/v1/khong-ton-tai"), 404, "not_found"),
        (admin.delete("/v1/units"), 405, "method_not_allowed"),
        (admin.post("/v1/units/cuc-bao-chi/ask", json={"question": ""}), 422, "invalid_request"),
        (
            admin.post(
                "/v1/units/cuc-bao-chi/ask",
                content=b"{not json",
                headers={"content-type": "application/json"},
            ),
            422,
            "invalid_request",
        ),
        (admin.post("/v1/units/cuc-bao-chi/ask", content=b"x" * (2 * 1024 * 1024)), 413, "payload_too_large"),
        (admin.get("/v1/units/khong-co-don-vi-nay"), 404, "unit_not_found"),
    ]
    for reply, status, code in cases:
        assert reply.status_code == status, (reply.request.url, reply.text)
        assert reply.headers["content-type"].startswith(PROBLEM_TYPE)
        body = reply.json()
        assert body["code"] == code and body["status"] == status
        assert body["title"] and body["detail"] and body["type"].endswith(code)


def test_api_keys_are_issued_by_ministry_admins_only(
    gateway_url: str, new_unit: Callable[[str], str], issue_key: Callable[..., str], admin: httpx.Client
) -> None:
    unit = new_unit("key")
    key = issue_key([unit], ["read"])
    with client_for(gateway_url, key) as client:
        assert [u["unit_id"] for u in client.get("/v1/units").json()["units"]] == [unit]
        refused = client.post("/v1/api-keys", json={"name": "x", "units": [unit], "scopes": ["read"]})
        assert refused.status_code == 403
        assert client.put(f"/v1/units/{unit}/documents/a", json={"text": "x"}).status_code == 403
    missing = admin.post("/v1/api-keys", json={"name": "x", "units": ["khong-co-don-vi"], "scopes": ["read"]})
    assert missing.status_code == 404 and missing.json()["code"] == "unit_not_found"


def test_bench_reports_latency_percentiles_and_throughput(
    gateway_url: str, knowledge_unit: KnowledgeUnit
) -> None:
    """The benchmark `make bench` calls runs end to end (no timing asserts: shared machine)."""
    result = run_ask_benchmark(
        gateway_url, knowledge_unit.read_key, knowledge_unit.unit, concurrencies=(1, 4), requests_per_level=8
    )
    assert [level["concurrency"] for level in result["levels"]] == [1, 4]
    for level in result["levels"]:
        assert level["ok"] + level["errors"] + level["rate_limited"] == level["requests"]
        assert level["errors"] == 0
        assert level["p50_ms"] <= level["p95_ms"] <= level["p99_ms"]
        assert level["throughput_rps"] > 0
