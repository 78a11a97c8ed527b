"""Units end: an unknown unit is 404 on every unit route; deleting a unit removes exactly that unit."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import httpx
import pytest

from tests.gateway.conftest import FAQ_ANSWER, FAQ_QUESTION, bearer, wait_until_settled
from tests.support import unique_unit

pytestmark = pytest.mark.timeout(600)

LEGAL_ID = "13/2023/NĐ-CP"
DOCUMENT_TEXT = (
    "Điều 1. Thời hạn cấp phép\n"
    "Thời hạn cấp giấy phép hoạt động báo chí điện tử là 30 ngày kể từ ngày nhận đủ hồ sơ hợp lệ.\n"
)
QUESTION = "Thời hạn cấp giấy phép hoạt động báo chí điện tử là bao lâu?"


def unit_routes(unit: str) -> list[tuple[str, str, dict[str, object] | None]]:
    encoded = quote(LEGAL_ID, safe="")
    return [
        ("GET", f"/v1/units/{unit}", None),
        ("GET", f"/v1/units/{unit}/documents", None),
        ("GET", f"/v1/units/{unit}/documents/{encoded}", None),
        ("GET", f"/v1/units/{unit}/documents/{encoded}/chunks", None),
        ("POST", f"/v1/units/{unit}/documents/{encoded}/reindex", None),
        ("DELETE", f"/v1/units/{unit}/documents/{encoded}", None),
        ("PUT", f"/v1/units/{unit}/documents/{encoded}", {"title": "t", "text": "x"}),
        ("GET", f"/v1/units/{unit}/faq", None),
        ("GET", f"/v1/units/{unit}/faq/le-phi", None),
        ("DELETE", f"/v1/units/{unit}/faq/le-phi", None),
        ("POST", f"/v1/units/{unit}/ask", {"question": QUESTION}),
        ("POST", f"/v1/units/{unit}/ask/stream", {"question": QUESTION}),
        ("POST", f"/v1/units/{unit}/feedback", {"question_id": "q" * 32, "helpful": True}),
        ("GET", f"/v1/units/{unit}/reports/answer-rate", None),
        ("GET", f"/v1/units/{unit}/reports/unanswered-questions", None),
        ("GET", f"/v1/units/{unit}/reports/calibration", None),
        ("PUT", f"/v1/units/{unit}/answer-threshold", {"min_confidence": 0.5}),
        ("DELETE", f"/v1/units/{unit}", None),
    ]


def test_unknown_unit_is_404_on_every_unit_route(admin: httpx.Client) -> None:
    unit = unique_unit("missing")
    for method, path, body in unit_routes(unit):
        reply = admin.request(method, path, json=body)
        assert reply.status_code == 404, (method, path, reply.status_code, reply.text)
        assert reply.headers["content-type"].startswith("application/problem+json"), (method, path)
        assert reply.json()["code"] == "unit_not_found", (method, path, reply.json())


def _fill(admin: httpx.Client, unit: str) -> str:
    admin.put(
        f"/v1/units/{unit}/documents/{quote(LEGAL_ID, safe='')}",
        json={"title": "Quy chế cấp phép", "text": DOCUMENT_TEXT},
    ).raise_for_status()
    faq = admin.post(f"/v1/units/{unit}/faq", json={"question": FAQ_QUESTION, "answer": FAQ_ANSWER})
    assert faq.status_code == 201, faq.text
    faq_id = str(faq.json()["faq_id"])
    assert (
        wait_until_settled(admin, f"/v1/units/{unit}/documents/{quote(LEGAL_ID, safe='')}")["status"]
        == "indexed"
    )
    assert wait_until_settled(admin, f"/v1/units/{unit}/faq/{faq_id}")["status"] == "indexed"
    return faq_id


def test_deleting_a_unit_removes_it_and_nothing_else(
    admin: httpx.Client,
    gateway_url: str,
    new_unit: Callable[[str], str],
    issue_key: Callable[..., str],
) -> None:
    doomed, kept = new_unit("del"), new_unit("keep")
    for unit in (doomed, kept):
        _fill(admin, unit)
    only_doomed = issue_key([doomed], ["read", "write", "admin"])
    both = issue_key([doomed, kept], ["read"])
    only_kept = issue_key([kept], ["read"])
    asked = admin.post(f"/v1/units/{doomed}/ask", json={"question": QUESTION})
    assert asked.status_code == 200 and asked.json()["answered"], asked.text

    with httpx.Client(base_url=gateway_url, headers=bearer(only_doomed), timeout=60) as unit_admin:
        refused = unit_admin.delete(f"/v1/units/{doomed}")
        assert refused.status_code == 403, refused.text  # a unit's own admin may not delete it

    reply = admin.delete(f"/v1/units/{doomed}")
    assert reply.status_code == 200, reply.text
    removal = reply.json()
    assert removal["unit_id"] == doomed and removal["snapshot_id"], removal
    assert (removal["api_keys_deleted"], removal["api_keys_narrowed"]) == (1, 1), removal
    assert removal["documents"] == 2 and removal["originals"] >= 1, removal

    assert admin.get(f"/v1/units/{doomed}").status_code == 404
    assert admin.get(f"/v1/units/{doomed}/documents").status_code == 404
    assert admin.delete(f"/v1/units/{doomed}").status_code == 404
    snapshots = admin.get("/v1/snapshots", params={"unit": doomed}).json()["snapshots"]
    assert removal["snapshot_id"] in {s["snapshot_id"] for s in snapshots}
    with httpx.Client(base_url=gateway_url, timeout=60) as client:
        assert client.get(f"/v1/units/{kept}", headers=bearer(only_doomed)).status_code == 401
        assert client.get(f"/v1/units/{kept}/documents", headers=bearer(both)).status_code == 200
        assert client.get(f"/v1/units/{doomed}", headers=bearer(both)).status_code == 403
        assert client.get(f"/v1/units/{kept}/faq", headers=bearer(only_kept)).status_code == 200

    # The other unit is untouched: its document, FAQ entry and answers.
    kept_documents = admin.get(f"/v1/units/{kept}/documents").json()["documents"]
    kept_states = {(d["document_id"], d["status"]) for d in kept_documents}
    assert (LEGAL_ID, "indexed") in kept_states and len(kept_states) == 2, kept_states  # + the FAQ entry
    assert len(admin.get(f"/v1/units/{kept}/faq").json()["entries"]) == 1
    answer = admin.post(f"/v1/units/{kept}/ask", json={"question": QUESTION}).json()
    assert answer["answered"] and answer["citations"][0]["document_id"] == LEGAL_ID, answer

    # A unit created again under the same id starts empty: nothing of the old one comes back.
    admin.put(f"/v1/units/{doomed}", json={"name": "Đơn vị mới"}).raise_for_status()
    assert admin.get(f"/v1/units/{doomed}/documents").json()["documents"] == []
    assert admin.get(f"/v1/units/{doomed}/faq").json()["entries"] == []
    again = admin.post(f"/v1/units/{doomed}/ask", json={"question": QUESTION}).json()
    assert not again["answered"] and again["citations"] == [], again
    chunks = admin.get(f"/v1/units/{doomed}/documents/{quote(LEGAL_ID, safe='')}/chunks")
    assert chunks.status_code == 404, chunks.text


def test_unit_can_be_deleted_without_a_snapshot(admin: httpx.Client, new_unit: Callable[[str], str]) -> None:
    unit = new_unit("nosnap")
    reply = admin.delete(f"/v1/units/{unit}", params={"snapshot": "false"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["snapshot_id"] == ""
    assert admin.get(f"/v1/units/{unit}").status_code == 404
