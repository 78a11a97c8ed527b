"""A unit's own document ids (legal numbers with `/`, spaces, `|`, Vietnamese letters, NFD input)
round-trip through PUT / GET / DELETE, listings, ask citations and document events."""

from __future__ import annotations

import asyncio
import json
import unicodedata
from collections.abc import Callable
from urllib.parse import quote

import httpx
import pytest

from stack.launcher import Stack
from tests.gateway.conftest import wait_until_settled
from trolyao.messaging import connect, upsert_subject

pytestmark = pytest.mark.timeout(600)

LEGAL_NUMBER = "13/2023/NĐ-CP"
IDS = [LEGAL_NUMBER, "Luật Phòng, chống ma túy|1", "a b", "x.y"]
TOPICS = {
    LEGAL_NUMBER: "bảo vệ dữ liệu cá nhân",
    "Luật Phòng, chống ma túy|1": "phòng chống ma túy",
    "a b": "cấp phép xuất bản bản tin",
    "x.y": "lưu trữ hồ sơ điện tử",
}


def document_path(unit: str, document_id: str) -> str:
    return f"/v1/units/{unit}/documents/{quote(document_id, safe='')}"


def text_about(topic: str) -> str:
    return f"Điều 1. Phạm vi\nVăn bản này quy định về {topic} trong toàn ngành.\n"


def test_legal_ids_round_trip(admin: httpx.Client, new_unit: Callable[[str], str]) -> None:
    unit = new_unit("ids")
    for document_id in IDS:
        reply = admin.put(
            document_path(unit, document_id),
            json={"title": f"Văn bản {document_id}", "text": text_about(TOPICS[document_id])},
        )
        assert reply.status_code == 202, reply.text
        assert reply.json()["document_id"] == document_id
    for document_id in IDS:
        status = wait_until_settled(admin, document_path(unit, document_id))
        assert (status["status"], status["document_id"]) == ("indexed", document_id), status
        chunks = admin.get(document_path(unit, document_id) + "/chunks")
        assert chunks.status_code == 200, chunks.text
        assert chunks.json()["document_id"] == document_id
    listed = admin.get(f"/v1/units/{unit}/documents").json()["documents"]
    assert sorted(d["document_id"] for d in listed) == sorted(IDS)

    answer = admin.post(
        f"/v1/units/{unit}/ask", json={"question": "Văn bản nào quy định về phòng chống ma túy?"}
    )
    assert answer.status_code == 200, answer.text
    cited = {citation["document_id"] for citation in answer.json()["citations"]}
    assert "Luật Phòng, chống ma túy|1" in cited, answer.json()

    # An id ending in `/chunks` is a document of its own, not the chunks of another.
    tricky = "phụ lục/chunks"
    reply = admin.put(document_path(unit, tricky), json={"title": "Phụ lục", "text": text_about("phụ lục")})
    assert reply.status_code == 202, reply.text
    assert admin.get(document_path(unit, tricky)).json()["document_id"] == tricky

    deleted = admin.delete(document_path(unit, LEGAL_NUMBER))
    assert deleted.status_code == 202, deleted.text
    assert wait_until_settled(admin, document_path(unit, LEGAL_NUMBER))["status"] == "deleted"
    assert admin.get(document_path(unit, "x.y")).json()["status"] == "indexed"


def test_nfd_and_nfc_name_one_document(admin: httpx.Client, new_unit: Callable[[str], str]) -> None:
    unit = new_unit("nfd")
    nfc = "Quyết định 15/QĐ-BTTTT về báo chí"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    admin.put(
        document_path(unit, nfd), json={"title": "QĐ 15", "text": text_about("báo chí")}
    ).raise_for_status()
    status = wait_until_settled(admin, document_path(unit, nfc))
    assert (status["status"], status["document_id"]) == ("indexed", nfc)
    listed = admin.get(f"/v1/units/{unit}/documents").json()["documents"]
    assert [d["document_id"] for d in listed] == [nfc]
    assert admin.delete(document_path(unit, nfd)).status_code == 202
    assert wait_until_settled(admin, document_path(unit, nfc))["status"] == "deleted"


def test_event_with_nfd_legal_id(
    admin: httpx.Client, new_unit: Callable[[str], str], running_stack: Stack
) -> None:
    """A unit's system publishes the id in NFD with slashes; the gateway reads it back in NFC."""
    unit = new_unit("evid")
    nfd = unicodedata.normalize("NFD", "91/2015/QH13 Bộ luật Dân sự|2")
    event = {
        "schema_version": 1,
        "unit": unit,
        "document_id": nfd,
        "version": 1,
        "text": text_about("dân sự"),
    }

    async def publish() -> None:
        client = await connect(running_stack.nats_url, name="test-document-ids")
        try:
            await client.jetstream().publish(upsert_subject(unit), json.dumps(event).encode())
        finally:
            await client.close()

    asyncio.run(publish())
    nfc = unicodedata.normalize("NFC", nfd)
    status = wait_until_settled(admin, document_path(unit, nfc))
    assert (status["status"], status["document_id"]) == ("indexed", nfc), status
    assert admin.delete(document_path(unit, nfd)).status_code == 202
    assert wait_until_settled(admin, document_path(unit, nfc))["status"] == "deleted"


@pytest.mark.parametrize(
    ("document_id", "reason"),
    [("a" * 201, "200"), ("dòng\nmới", "điều khiển"), (" đầu", "khoảng trắng"), ("faq-abc", "faq-")],
)
def test_invalid_ids_are_refused_in_vietnamese(
    admin: httpx.Client, new_unit: Callable[[str], str], document_id: str, reason: str
) -> None:
    unit = new_unit("badid")
    reply = admin.put(document_path(unit, document_id), json={"title": "x", "text": "y"})
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert reason in reply.json()["detail"]


def test_problem_instance_keeps_the_encoded_slash(
    admin: httpx.Client, new_unit: Callable[[str], str]
) -> None:
    unit = new_unit("inst")
    reply = admin.get(document_path(unit, "99/2099/NĐ-CP"))
    assert reply.status_code == 404, reply.text
    assert reply.json()["instance"] == f"/v1/units/{unit}/documents/99%2F2099%2FNĐ-CP"
