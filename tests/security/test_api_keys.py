"""Finding 8: API keys are listed (never their secrets, with their last use), revoked and expire;
a unit's admins manage their unit's keys only; every replica refuses a revoked key within 5 s."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.gateway.adapters.backends import API_KEY_CACHE_SECONDS, Backends
from services.gateway.domain.problems import ApiProblem
from stack.launcher import Stack

pytestmark = pytest.mark.timeout(180)
REVOCATION_BOUND_SECONDS = 5.0


def _issue(admin: httpx.Client, units: list[str], scopes: list[str], **extra: object) -> dict[str, str]:
    reply = admin.post("/v1/api-keys", json={"name": "Khóa thử", "units": units, "scopes": scopes} | extra)
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def _bearer(key: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['api_key']}"}


def test_keys_are_listed_without_secrets_and_unit_admins_see_their_units_only(
    security_stack: Stack, admin: httpx.Client, new_unit: Callable[[], str]
) -> None:
    unit_a, unit_b = new_unit(), new_unit()
    reader_a = _issue(admin, [unit_a], ["read"])
    reader_b = _issue(admin, [unit_b], ["read"])
    spanning = _issue(admin, [unit_a, unit_b], ["read"])
    admin_a = _issue(admin, [unit_a], ["read", "write", "admin"])
    assert (
        httpx.get(f"{security_stack.gateway_url}/v1/units/{unit_a}", headers=_bearer(reader_a)).status_code
        == 200
    )

    listed = admin.get("/v1/api-keys").json()["keys"]
    mine = {key["key_id"]: key for key in listed}
    assert {reader_a["key_id"], reader_b["key_id"], spanning["key_id"], admin_a["key_id"]} <= set(mine)
    text = admin.get("/v1/api-keys").text
    for key in (reader_a, reader_b, spanning, admin_a):
        assert key["api_key"] not in text
        assert key["api_key"].rsplit("_", 1)[1] not in text
    assert "sha256" not in text
    assert mine[reader_a["key_id"]]["last_used_at"]
    assert not mine[reader_b["key_id"]]["last_used_at"]
    assert mine[reader_a["key_id"]]["active"] is True

    with httpx.Client(
        base_url=security_stack.gateway_url, headers=_bearer(admin_a), timeout=30.0
    ) as unit_admin:
        seen = {key["key_id"] for key in unit_admin.get("/v1/api-keys").json()["keys"]}
        assert seen == {reader_a["key_id"], admin_a["key_id"]}
        assert unit_admin.get(f"/v1/api-keys?unit={unit_b}").status_code == 403
        for foreign in (reader_b, spanning):
            assert unit_admin.delete(f"/v1/api-keys/{foreign['key_id']}").status_code == 404
        revoked = unit_admin.delete(f"/v1/api-keys/{reader_a['key_id']}")
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked"] is True and revoked.json()["active"] is False
    refused = httpx.get(f"{security_stack.gateway_url}/v1/units/{unit_a}", headers=_bearer(reader_a))
    assert refused.status_code == 401
    # Read-only keys manage nothing.
    assert (
        httpx.get(f"{security_stack.gateway_url}/v1/api-keys", headers=_bearer(reader_b)).status_code == 403
    )
    still = {key["key_id"]: key for key in admin.get("/v1/api-keys").json()["keys"]}
    assert still[reader_b["key_id"]]["active"] and still[spanning["key_id"]]["active"]


def test_a_key_past_its_expiry_cannot_be_issued_and_a_future_one_is_shown(
    admin: httpx.Client, new_unit: Callable[[], str]
) -> None:
    unit = new_unit()
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert (
        admin.post(
            "/v1/api-keys", json={"name": "Hết hạn", "units": [unit], "scopes": ["read"], "expires_at": past}
        ).status_code
        == 422
    )
    future = datetime.now(UTC) + timedelta(days=30)
    issued = _issue(admin, [unit], ["read"], expires_at=future.isoformat())
    assert datetime.fromisoformat(issued["expires_at"].replace("Z", "+00:00")) == future.replace(
        microsecond=0
    )
    listed = {key["key_id"]: key for key in admin.get(f"/v1/api-keys?unit={unit}").json()["keys"]}
    assert listed[issued["key_id"]]["expires_at"] == issued["expires_at"]


def test_a_key_revoked_through_one_replica_is_refused_by_another_within_five_seconds(
    security_stack: Stack, admin: httpx.Client, new_unit: Callable[[], str]
) -> None:
    assert API_KEY_CACHE_SECONDS < REVOCATION_BOUND_SECONDS
    key = _issue(admin, [new_unit()], ["read"])

    async def two_replicas() -> tuple[bool, bool]:
        env = security_stack.environment()
        replicas = [
            Backends(
                retrieval_addr=env["TROLYAO_RETRIEVAL_ADDRESSES"],
                ops_addr=env["TROLYAO_OPS_ADDR"],
                nats_url=security_stack.nats_url,
                timeout=10.0,
                service_token=security_stack.service_token,
            )
            for _ in range(2)
        ]
        for replica in replicas:
            await replica.start()
        try:
            first, second = replicas
            await first.authenticate_api_key(key["api_key"])  # now remembered by the first replica
            await second.revoke_api_key(key["key_id"])
            remembered = (await first.authenticate_api_key(key["api_key"])).subject.endswith(key["key_id"])
            await asyncio.sleep(API_KEY_CACHE_SECONDS)
            try:
                await first.authenticate_api_key(key["api_key"])
                refused = False
            except ApiProblem as problem:
                refused = problem.kind.status == 401
            return remembered, refused
        finally:
            for replica in replicas:
                await replica.stop()

    remembered, refused = asyncio.run(two_replicas())
    assert remembered  # the cache is real: it is what bounds the delay
    assert refused
