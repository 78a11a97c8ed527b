"""Units' event credentials through the gateway (issue 14): a ministry admin issues one over HTTP,
the unit's system publishes its own documents with it and nothing else, the list never shows a
secret, unit-scoped keys reach no unit's credentials, and a revocation over HTTP makes nats-server
drop the connection and refuse the next one. Against the embedded stack as `make run` starts it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

import httpx
import nats
import nats.errors
import pytest

from stack.launcher import Stack
from tests.security.conftest import Errors, settled, upsert_event
from tests.snapshots.conftest import login_ministry_admin

pytestmark = [pytest.mark.stack, pytest.mark.timeout(180)]

PUBLISH_TIMEOUT_SECONDS = 3.0
PERMISSIONS_VIOLATION = "permissions violation"
BASE = "/v1/units/{unit}/event-credentials"


async def unit_client(stack: Stack, issued: dict[str, str], errors: Errors) -> nats.aio.client.Client:
    return await nats.connect(
        stack.nats_server_url,
        user=issued["nats_user"],
        password=issued["password"],
        inbox_prefix=issued["inbox_prefix"],
        allow_reconnect=False,
        error_cb=errors.callback,
    )


def audit_actions(stack: Stack, unit: str) -> list[tuple[str, str, str]]:
    auditor = login_ministry_admin(stack)
    page = httpx.get(
        f"{stack.gateway_url}/v1/audit",
        params={"unit": unit, "limit": 500},
        headers=auditor.headers,
        timeout=30.0,
    )
    assert page.status_code == 200, page.text
    return [(event["action"], event["target"], event["actor"]) for event in page.json()["events"]]


def test_issue_publish_refuse_revoke_through_the_api(
    security_stack: Stack, admin: httpx.Client, new_unit: Callable[[], str]
) -> None:
    unit, victim = new_unit(), new_unit()
    created = admin.post(BASE.format(unit=unit))
    assert created.status_code == 201, created.text
    issued = created.json()
    credential_id = issued["credential_id"]
    assert created.headers["location"] == f"{BASE.format(unit=unit)}/{credential_id}"
    assert issued["unit"] == unit and issued["active"] and len(issued["password"]) >= 32

    async def publish_own_then_foreign() -> bool:
        errors = Errors()
        client = await unit_client(security_stack, issued, errors)
        try:
            js = client.jetstream()
            await js.publish(
                f"docs.{unit}.upsert",
                upsert_event(unit, "thong-bao", 1, text="Hồ sơ nộp trong mười lăm ngày làm việc."),
                timeout=PUBLISH_TIMEOUT_SECONDS,
            )
            with pytest.raises(nats.errors.TimeoutError):
                await js.publish(
                    f"docs.{victim}.upsert",
                    upsert_event(victim, "gia-mao", 1, text="Văn bản giả mạo."),
                    timeout=PUBLISH_TIMEOUT_SECONDS,
                )
            return await errors.wait_for(PERMISSIONS_VIOLATION)
        finally:
            await client.close()

    assert asyncio.run(publish_own_then_foreign())
    assert settled(admin, unit, "thong-bao")["status"] == "indexed"
    assert admin.get(f"/v1/units/{victim}/documents/gia-mao").status_code == 404

    listed = admin.get(BASE.format(unit=unit))
    assert listed.status_code == 200, listed.text
    assert [c["credential_id"] for c in listed.json()["credentials"]] == [credential_id]
    assert issued["password"] not in listed.text and "password" not in listed.text
    assert admin.get(BASE.format(unit=victim)).json()["credentials"] == []
    # Another unit's path does not reach this credential.
    assert admin.delete(f"{BASE.format(unit=victim)}/{credential_id}").status_code == 404

    async def revoke_while_connected() -> bool:
        errors = Errors()
        client = await unit_client(security_stack, issued, errors)
        try:
            revoked = await asyncio.to_thread(admin.delete, f"{BASE.format(unit=unit)}/{credential_id}")
            assert revoked.status_code == 200, revoked.text
            assert revoked.json()["active"] is False and revoked.json()["revoked_at"]
            return await errors.wait_for("authorization") or client.is_closed
        finally:
            await client.close()

    assert asyncio.run(revoke_while_connected())
    with pytest.raises(nats.errors.Error, match=r"(?i)authorization"):
        asyncio.run(unit_client(security_stack, issued, Errors()))
    assert admin.get(BASE.format(unit=unit)).json()["credentials"][0]["active"] is False

    actions = audit_actions(security_stack, unit)
    issued_records = [a for a in actions if a[0] == "event_credential.issued" and a[1] == credential_id]
    revoked_records = [a for a in actions if a[0] == "event_credential.revoked" and a[1] == credential_id]
    assert len(issued_records) == 1 and len(revoked_records) == 1, actions
    assert issued_records[0][2] == revoked_records[0][2] != ""


def test_the_list_is_paginated(admin: httpx.Client, new_unit: Callable[[], str]) -> None:
    unit = new_unit()
    ids = [admin.post(BASE.format(unit=unit)).json()["credential_id"] for _ in range(3)]
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        params: dict[str, str | int] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = admin.get(BASE.format(unit=unit), params=params).json()
        seen += [c["credential_id"] for c in page["credentials"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    for credential_id in ids:
        assert admin.delete(f"{BASE.format(unit=unit)}/{credential_id}").status_code == 200


def test_unit_scoped_keys_and_unknown_units_are_refused(
    security_stack: Stack, admin: httpx.Client, new_unit: Callable[[], str]
) -> None:
    own, other = new_unit(), new_unit()
    key = admin.post("/v1/api-keys", json={"name": "quản trị đơn vị", "units": [own], "scopes": ["admin"]})
    assert key.status_code == 201, key.text
    headers = {"Authorization": f"Bearer {key.json()['api_key']}"}
    theirs = admin.post(BASE.format(unit=other)).json()["credential_id"]
    with httpx.Client(base_url=security_stack.gateway_url, headers=headers, timeout=30.0) as unit_admin:
        for unit in (own, other):
            assert unit_admin.post(BASE.format(unit=unit)).status_code == 403
            assert unit_admin.get(BASE.format(unit=unit)).status_code == 403
        assert unit_admin.delete(f"{BASE.format(unit=other)}/{theirs}").status_code == 403
    assert admin.get(BASE.format(unit=other)).json()["credentials"][0]["active"] is True
    missing = admin.post(BASE.format(unit=f"khong-co-{secrets.token_hex(3)}"))
    assert missing.status_code == 404 and missing.json()["code"] == "unit_not_found"
    assert admin.delete(f"{BASE.format(unit=other)}/{theirs}").status_code == 200


def test_deleting_a_unit_revokes_its_event_credentials(
    security_stack: Stack, admin: httpx.Client, new_unit: Callable[[], str]
) -> None:
    unit = new_unit()
    issued = admin.post(BASE.format(unit=unit)).json()
    deleted = admin.delete(f"/v1/units/{unit}", params={"snapshot": "false"})
    assert deleted.status_code == 200, deleted.text
    with pytest.raises(nats.errors.Error, match=r"(?i)authorization"):
        asyncio.run(unit_client(security_stack, issued, Errors()))
