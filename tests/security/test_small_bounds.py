"""Small trust bounds (issue 14, findings 7 and 15): a client cannot choose the address the
gateway sees through `X-Forwarded-For` unless it is a configured proxy, and an answer threshold
the wire cannot carry is refused by the gateway's schema (422), never passed on to ops."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import httpx
import pytest

from stack.launcher import Stack
from tests.snapshots.conftest import login_ministry_admin
from trolyao.units import HIGHEST_MIN_CONFIDENCE

pytestmark = [pytest.mark.stack, pytest.mark.timeout(120)]

FORGED_ADDRESS = "203.0.113.77"


def test_forwarded_for_from_an_untrusted_peer_is_ignored(security_stack: Stack) -> None:
    username = f"khong-co-{secrets.token_hex(4)}"
    with httpx.Client(base_url=security_stack.gateway_url, timeout=30.0) as client:
        refused = client.post(
            "/v1/auth/login",
            json={"username": username, "password": "sai-mat-khau-123"},
            headers={"X-Forwarded-For": FORGED_ADDRESS},
        )
    assert refused.status_code == 401, refused.text
    auditor = login_ministry_admin(security_stack)
    page = httpx.get(
        f"{security_stack.gateway_url}/v1/audit",
        params={"action": "login", "outcome": "failure", "limit": 500},
        headers=auditor.headers,
        timeout=30.0,
    )
    assert page.status_code == 200, page.text
    mine = [event for event in page.json()["events"] if event["actor"] == f"user:{username}"]
    assert mine, page.json()
    assert {event["client_address"] for event in mine} == {"127.0.0.1"}


@pytest.mark.parametrize("threshold", [0.9999999999999999, 1e-300, 1.0, 0.0])
def test_thresholds_the_wire_cannot_carry_are_refused_by_the_schema(
    admin: httpx.Client, new_unit: Callable[[], str], threshold: float
) -> None:
    unit = new_unit()
    reply = admin.put(f"/v1/units/{unit}/answer-threshold", json={"min_confidence": threshold})
    assert reply.status_code == 422, reply.text
    assert "min_confidence" in reply.json()["detail"]


def test_the_highest_carried_threshold_is_stored(admin: httpx.Client, new_unit: Callable[[], str]) -> None:
    unit = new_unit()
    reply = admin.put(f"/v1/units/{unit}/answer-threshold", json={"min_confidence": HIGHEST_MIN_CONFIDENCE})
    assert reply.status_code == 200, reply.text
    assert reply.json()["min_confidence"] == pytest.approx(HIGHEST_MIN_CONFIDENCE)
