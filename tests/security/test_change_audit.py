"""Finding 12: every change leaves one audit record — through every mutating HTTP route and through
every kind of document event a unit's system publishes on NATS."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from services.gateway.entrypoints.change_audit import (
    AUDITED_BY_OPS_ROUTES,
    AUDITED_ROUTES,
    MUTATING_METHODS,
    NOT_CHANGES,
    SELF_AUDITED_ROUTES,
)
from stack.launcher import Stack
from tests.security.conftest import settled, upsert_event
from tests.snapshots.conftest import login_ministry_admin
from trolyao.messaging import connect, delete_subject, upsert_subject

pytestmark = pytest.mark.timeout(240)
AUDIT_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.2


def _route_tables() -> list[set[tuple[str, str]]]:
    return [set(AUDITED_ROUTES), set(SELF_AUDITED_ROUTES), set(AUDITED_BY_OPS_ROUTES), set(NOT_CHANGES)]


def test_every_mutating_route_is_audited_or_named_as_no_change(admin: httpx.Client) -> None:
    spec = admin.get("/openapi.json").json()
    mutating = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method.upper() in MUTATING_METHODS
    }
    assert len(mutating) > 20
    for route in sorted(mutating):
        homes = [table for table in _route_tables() if route in table]
        assert len(homes) == 1, f"{route} must be named in exactly one table of change_audit.py"
    named = set().union(*_route_tables())
    assert named <= mutating, f"tables name routes the app does not have: {sorted(named - mutating)}"


def _audit_events(stack: Stack, token_headers: dict[str, str], unit: str) -> list[dict[str, Any]]:
    reply = httpx.get(
        f"{stack.gateway_url}/v1/audit",
        params={"unit": unit, "limit": 1000},
        headers=token_headers,
        timeout=30.0,
    )
    assert reply.status_code == 200, reply.text
    return list(reply.json()["events"])


def _wait_for_actions(
    stack: Stack, headers: dict[str, str], unit: str, wanted: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + AUDIT_TIMEOUT_SECONDS
    events = _audit_events(stack, headers, unit)
    while not wanted(events) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        events = _audit_events(stack, headers, unit)
    return events


def test_each_change_through_the_api_has_one_record_with_its_caller(
    security_stack: Stack, admin: httpx.Client, new_unit: Callable[[], str]
) -> None:
    unit = new_unit()  # PUT /v1/units/{unit} by the bootstrap key
    issued = admin.post(
        "/v1/api-keys",
        json={"name": "Hệ thống đơn vị", "units": [unit], "scopes": ["read", "write", "admin"]},
    )
    assert issued.status_code == 201, issued.text
    key_id = issued.json()["key_id"]
    unit_key = {"Authorization": f"Bearer {issued.json()['api_key']}"}
    base = f"/v1/units/{unit}"
    with httpx.Client(base_url=security_stack.gateway_url, headers=unit_key, timeout=60.0) as client:
        put = client.put(f"{base}/documents/nd-1", json={"title": "Nghị định", "text": "Điều 1. Phạm vi."})
        assert put.status_code == 202, put.text
        assert settled(client, unit, "nd-1")["status"] == "indexed"
        assert client.post(f"{base}/documents/nd-1/reindex").status_code == 202
        settled(client, unit, "nd-1")
        assert client.delete(f"{base}/documents/nd-1").status_code == 202
        faq = client.post(f"{base}/faq", json={"question": "Lệ phí bao nhiêu?", "answer": "Miễn phí."})
        assert faq.status_code == 201, faq.text
        faq_id = faq.json()["faq_id"]
        edited = client.put(f"{base}/faq/{faq_id}", json={"question": "Lệ phí?", "answer": "Miễn phí."})
        assert edited.status_code == 200, edited.text
        assert client.delete(f"{base}/faq/{faq_id}").status_code == 202
        threshold = client.put(f"{base}/answer-threshold", json={"min_confidence": 0.6})
        assert threshold.status_code == 200, threshold.text
        # A refused change is not a change: no record.
        assert client.put("/v1/units/khong-duoc-phep", json={"name": "x"}).status_code == 403
    assert admin.delete(f"/v1/api-keys/{key_id}").status_code == 200
    auditor = login_ministry_admin(security_stack)
    events = _audit_events(security_stack, auditor.headers, unit)
    by_action: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_action.setdefault(event["action"], []).append(event)
    unit_actor = next(event["actor"] for event in by_action["document.upserted"])
    assert key_id in unit_actor
    expected_counts = {
        "unit.saved": 1,
        "document.upserted": 1,
        "document.reindexed": 1,
        "document.deleted": 1,
        "faq.created": 1,
        "faq.saved": 1,
        "faq.deleted": 1,
        "unit.answer_threshold_changed": 1,
    }
    assert {action: len(by_action.get(action, [])) for action in expected_counts} == expected_counts
    assert by_action["unit.saved"][0]["actor"] == "bootstrap"
    for action in expected_counts:
        if action != "unit.saved":
            assert by_action[action][0]["actor"] == unit_actor, by_action[action]
    assert by_action["document.deleted"][0]["details"]["document_id"] == "nd-1"
    assert by_action["faq.created"][0]["details"]["location"].endswith(faq_id)
    assert all(event["client_address"] == "127.0.0.1" for event in events)
    assert not _audit_events(security_stack, auditor.headers, "khong-duoc-phep")
    # The key's issue and revocation are recorded too (found by the key id).
    keys = httpx.get(
        f"{security_stack.gateway_url}/v1/audit",
        params={"action": "api_key", "limit": 1000},
        headers=auditor.headers,
        timeout=30.0,
    ).json()["events"]
    issued_records = [
        e for e in keys if e["action"] == "api_key.issued" and e["details"].get("key_id") == key_id
    ]
    revoked_records = [
        e for e in keys if e["action"] == "api_key.revoked" and e["details"].get("key_id") == key_id
    ]
    assert len(issued_records) == 1 and len(revoked_records) == 1
    assert revoked_records[0]["actor"] == "bootstrap"


def test_each_document_event_from_a_unit_system_has_one_record(
    security_stack: Stack, admin: httpx.Client, new_unit: Callable[[], str]
) -> None:
    unit = new_unit()

    def delete_event(document_id: str, version: int) -> bytes:
        body = {
            "schemaVersion": 1,
            "eventId": secrets.token_hex(8),
            "unit": unit,
            "documentId": document_id,
            "version": str(version),
            "source": "portal-sync",
        }
        return json.dumps(body).encode()

    upsert = upsert_event(unit, "tt-2", 1, text="Điều 1. Thông tư.", source="portal-sync")

    async def publish(payloads: list[tuple[str, bytes]]) -> None:
        client = await connect(security_stack.nats_url, name="unit-system")
        try:
            js = client.jetstream()
            for subject, payload in payloads:
                # The same event twice (a redelivery or a retried publish) is still one change.
                await js.publish(subject, payload)
                await js.publish(subject, payload)
        finally:
            await client.drain()

    asyncio.run(publish([(upsert_subject(unit), upsert)]))
    assert settled(admin, unit, "tt-2")["status"] == "indexed"
    reindex = upsert_event(unit, "tt-2", 1, text="Điều 1. Thông tư.", source="portal-sync", reindex=True)
    asyncio.run(publish([(upsert_subject(unit), reindex), (delete_subject(unit), delete_event("tt-2", 2))]))
    auditor = login_ministry_admin(security_stack)

    def complete(events: list[dict[str, Any]]) -> bool:
        return {"document.upserted", "document.reindexed", "document.deleted"} <= {
            e["action"] for e in events
        }

    events = _wait_for_actions(security_stack, auditor.headers, unit, complete)
    time.sleep(1.0)  # let any duplicate arrive before counting
    events = _audit_events(security_stack, auditor.headers, unit)
    actions = sorted(event["action"] for event in events if event["action"].startswith("document."))
    assert actions == ["document.deleted", "document.reindexed", "document.upserted"], events
    for event in events:
        if event["action"].startswith("document."):
            assert event["actor"] == f"event:{unit}"
            assert event["details"]["source"] == "portal-sync"
            assert event["details"]["document_id"] == "tt-2"
