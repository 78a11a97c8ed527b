"""A unit's snapshot holds the unit's records (issue 14, finding 5): its document statuses and FAQ
entries, selected by subject (`<unit>.>`), not by substring. Lost records come back on restore."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from stack.launcher import Stack
from tests.security.conftest import settled
from tests.snapshots.conftest import login_ministry_admin
from trolyao.keyvalue import live_keys
from trolyao.messaging import DOC_STATUS_BUCKET, FAQ_ENTRIES_BUCKET, connect

pytestmark = [pytest.mark.stack, pytest.mark.timeout(240)]

DOCUMENTS = ("quy-che", "huong-dan", "bao-cao")


async def _forget_unit_records(nats_url: str, unit: str) -> int:
    """What a lost or tampered bucket looks like: every status and FAQ key of the unit deleted."""
    client = await connect(nats_url, name="security-forget")
    forgotten = 0
    try:
        js = client.jetstream()
        for name in (DOC_STATUS_BUCKET, FAQ_ENTRIES_BUCKET):
            bucket = await js.key_value(name)
            for key in await live_keys(bucket, f"{unit}.>"):
                await bucket.delete(key)
                forgotten += 1
    finally:
        await client.drain()
    return forgotten


def test_unit_snapshot_restores_statuses_and_faq_entries(
    admin: httpx.Client, new_unit: Callable[[], str], security_stack: Stack
) -> None:
    unit = new_unit()
    look_alike = "x" + unit  # its keys contain the unit's id as a substring: never in its snapshot
    admin.put(f"/v1/units/{look_alike}", json={"name": "Đơn vị có mã gần giống"}).raise_for_status()
    admin.put(
        f"/v1/units/{look_alike}/documents/khac", json={"title": "Khác", "text": "Điều 1. Nội dung khác."}
    ).raise_for_status()
    for document_id in DOCUMENTS:
        reply = admin.put(
            f"/v1/units/{unit}/documents/{document_id}",
            json={"title": document_id, "text": f"Điều 1. Nội dung\nVăn bản {document_id} của đơn vị."},
        )
        assert reply.status_code == 202, reply.text
    faq_ids = []
    for number in range(2):
        reply = admin.post(
            f"/v1/units/{unit}/faq",
            json={"question": f"Câu hỏi số {number}?", "answer": f"Trả lời {number}."},
        )
        assert reply.status_code == 201, reply.text
        faq_ids.append(reply.json()["faq_id"])
    for document_id in (*DOCUMENTS, *(f"faq-{faq_id}" for faq_id in faq_ids)):
        assert settled(admin, unit, document_id)["status"] == "indexed"
    settled(admin, look_alike, "khac")

    taken = admin.post("/v1/snapshots", json={"unit": unit})
    assert taken.status_code == 201, taken.text
    snapshot_id = taken.json()["snapshot_id"]
    forgotten = asyncio.run(_forget_unit_records(security_stack.nats_url, unit))
    assert forgotten == len(DOCUMENTS) + 2 * len(faq_ids)  # a status per document and FAQ, the entries
    assert admin.get(f"/v1/units/{unit}/documents/{DOCUMENTS[0]}").status_code == 404

    ministry_admin = login_ministry_admin(security_stack)
    restored = httpx.post(
        f"{security_stack.gateway_url}/v1/snapshots/{snapshot_id}/restore",
        json={"unit": unit},
        headers=ministry_admin.headers,
        timeout=120.0,
    )
    assert restored.status_code == 200, restored.text
    report = restored.json()["units"][0]
    assert report["restored_key_values"] == forgotten, report
    for document_id in DOCUMENTS:
        status = admin.get(f"/v1/units/{unit}/documents/{document_id}")
        assert status.status_code == 200, status.text
        assert status.json()["status"] == "indexed"
    entries = admin.get(f"/v1/units/{unit}/faq").json()["entries"]
    assert sorted(entry["faq_id"] for entry in entries) == sorted(faq_ids)
    assert all(entry["status"] == "indexed" for entry in entries)
    assert admin.get(f"/v1/units/{look_alike}/documents/khac").status_code == 200
