"""The whole stack as separate processes, exactly as `make run` starts it.

Upload → NATS event → ingest → retrieval index → ask returns the passage with its citation; then a
service is killed with SIGKILL, /readyz reports it, it is restarted, and the stack answers again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from stack.launcher import Stack
from tests.support import unique_unit

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]

POLL_SECONDS = 0.25
INDEX_TIMEOUT_SECONDS = 180.0
DOCUMENT = (
    "Điều 1. Phạm vi điều chỉnh\n"
    "Quy chế này quy định việc cấp giấy phép hoạt động báo chí điện tử.\n\n"
    "Điều 2. Thời hạn giải quyết\n"
    "1. Thời hạn cấp giấy phép hoạt động báo chí điện tử là 30 ngày kể từ ngày nhận đủ hồ sơ hợp lệ.\n"
    "2. Trường hợp từ chối cấp phép, cơ quan cấp phép phải trả lời bằng văn bản và nêu rõ lý do.\n"
)


@pytest.fixture
def client(running_stack: Stack) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {running_stack.api_key}"}
    with httpx.Client(base_url=running_stack.gateway_url, headers=headers, timeout=60.0) as http:
        yield http


def wait_for_status(client: httpx.Client, unit: str, document_id: str, wanted: str) -> dict[str, object]:
    deadline = time.monotonic() + INDEX_TIMEOUT_SECONDS
    last: dict[str, object] = {}
    while time.monotonic() < deadline:
        reply = client.get(f"/v1/units/{unit}/documents/{document_id}")
        if reply.status_code == 200:
            last = reply.json()
            if last["status"] in (wanted, "failed"):
                return last
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"document never reached {wanted}: {last}")


def wait_until(condition: object, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(POLL_SECONDS)
    raise AssertionError("condition not met in time")


def ask(client: httpx.Client, unit: str, question: str) -> dict[str, object]:
    reply = client.post(f"/v1/units/{unit}/ask", json={"question": question})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_upload_then_ask_returns_cited_passage_and_survives_kill_9(
    running_stack: Stack, client: httpx.Client
) -> None:
    unit = unique_unit("slice")
    assert client.put(f"/v1/units/{unit}", json={"name": "Cục Báo chí (kiểm thử)"}).status_code == 201
    put = client.put(
        f"/v1/units/{unit}/documents/quy-che-cap-phep",
        json={"title": "Quy chế cấp phép báo chí điện tử", "text": DOCUMENT},
    )
    assert put.status_code == 202, put.text
    assert put.json()["status"] == "queued" and put.json()["queue_lane"] == "interactive"
    status = wait_for_status(client, unit, "quy-che-cap-phep", "indexed")
    assert status["status"] == "indexed", status
    assert int(str(status["chunk_count"])) >= 1

    answer = ask(client, unit, "Thời hạn cấp giấy phép hoạt động báo chí điện tử là bao lâu?")
    assert answer["answered"] is True, answer
    assert "30 ngày" in str(answer["answer"])
    citations = answer["citations"]
    assert isinstance(citations, list) and citations
    assert citations[0]["document_id"] == "quy-che-cap-phep"
    assert citations[0]["title"] == "Quy chế cấp phép báo chí điện tử"

    running_stack.kill("retrieval")
    wait_until(lambda: client.get("/readyz").status_code == 503)
    readiness = client.get("/readyz").json()
    assert readiness["ready"] is False
    assert readiness["dependencies"]["retrieval"]["ready"] is False
    assert "retrieval" in readiness["dependencies"]["retrieval"]["reason"]
    during = client.post(f"/v1/units/{unit}/ask", json={"question": "Thời hạn cấp giấy phép?"})
    assert during.status_code == 503
    assert during.headers["content-type"].startswith("application/problem+json")
    assert during.json()["code"] == "dependency_unavailable"

    running_stack.restart("retrieval")
    running_stack.wait_ready()
    again = ask(client, unit, "Thời hạn cấp giấy phép hoạt động báo chí điện tử là bao lâu?")
    assert again["answered"] is True
    assert again["citations"][0]["document_id"] == "quy-che-cap-phep"  # type: ignore[index]


def test_ingest_crash_is_recovered_by_redelivery(running_stack: Stack, client: httpx.Client) -> None:
    unit = unique_unit("crash")
    client.put(f"/v1/units/{unit}", json={"name": "Đơn vị kiểm thử"}).raise_for_status()
    running_stack.kill("ingest")
    reply = client.put(
        f"/v1/units/{unit}/documents/thong-bao",
        json={"title": "Thông báo", "text": "Hạn nộp báo cáo là ngày 15 hằng tháng."},
    )
    assert reply.status_code == 202
    assert client.get(f"/v1/units/{unit}/documents/thong-bao").json()["status"] == "queued"
    running_stack.restart("ingest")
    assert wait_for_status(client, unit, "thong-bao", "indexed")["status"] == "indexed"


def test_unit_never_sees_another_units_documents(running_stack: Stack, client: httpx.Client) -> None:
    unit_a, unit_b = unique_unit("a"), unique_unit("b")
    for unit in (unit_a, unit_b):
        client.put(f"/v1/units/{unit}", json={"name": f"Đơn vị {unit}"}).raise_for_status()
    client.put(
        f"/v1/units/{unit_a}/documents/bi-mat",
        json={
            "title": "Kế hoạch nội bộ",
            "text": "Mã dự án nội bộ của đơn vị A là XK-2291 và hạn chót là tháng 9.",
        },
    ).raise_for_status()
    wait_for_status(client, unit_a, "bi-mat", "indexed")
    answer = ask(client, unit_b, "Mã dự án nội bộ XK-2291 hạn chót khi nào?")
    assert answer["answered"] is False
    assert all(c["document_id"] != "bi-mat" for c in answer["citations"])  # type: ignore[union-attr]
    assert client.get(f"/v1/units/{unit_b}/documents/bi-mat").status_code == 404


def test_requests_without_credentials_are_refused_with_problem_json(running_stack: Stack) -> None:
    reply = httpx.post(f"{running_stack.gateway_url}/v1/units/demo/ask", json={"question": "xin chào"})
    assert reply.status_code == 401
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert reply.json()["code"] == "unauthenticated"
    assert httpx.get(f"{running_stack.gateway_url}/healthz").json() == {"status": "ok"}
