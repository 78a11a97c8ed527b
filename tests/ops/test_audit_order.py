"""The audit API newest first (`GET /v1/audit?order=newest`): descending time, and the cursor walks
every matching event exactly once, across the windows ops reads the stream back in."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.ops.identity.adapters import audit_stream
from tests.ops.conftest import AuthStack

pytestmark = pytest.mark.timeout(120)


def _walk(http: httpx.Client, headers: dict[str, str], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page by `next_cursor`, events in the order served."""
    events: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(200):
        page = http.get(
            "/v1/audit", headers=headers, params={**params, **({"cursor": cursor} if cursor else {})}
        )
        assert page.status_code == 200, page.text
        body = page.json()
        events += body["events"]
        cursor = body["next_cursor"]
        assert (cursor is None) == (not body["more"])
        if cursor is None:
            return events
    raise AssertionError("the cursor never ended")


def test_newest_first_is_descending_and_the_cursor_walks_every_event_once(
    auth_stack: AuthStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small windows so the backward read crosses many of them (and one filtered-out stretch).
    monkeypatch.setattr(audit_stream, "BACKWARD_FIRST_WINDOW", 2)
    monkeypatch.setattr(audit_stream, "BACKWARD_HELD_WINDOW", 4)
    admin = auth_stack.create_admin()
    mine = {"actor": f"user:{admin.username}", "action": "audit.queried"}
    with auth_stack.client() as http:
        for _ in range(12):  # each query is itself an `audit.queried` event of this admin
            assert (
                http.get("/v1/audit", headers=admin.headers, params={**mine, "limit": 1}).status_code == 200
            )

        newest = _walk(http, admin.headers, {**mine, "order": "newest", "limit": 5})
        sequences = [event["sequence"] for event in newest]
        assert len(sequences) >= 12
        assert sequences == sorted(sequences, reverse=True) and len(set(sequences)) == len(sequences)
        times = [event["occurred_at"] for event in newest]
        assert times == sorted(times, reverse=True)
        assert all(event["actor"] == mine["actor"] for event in newest)

        # The same events oldest first (the walks' own queries come later and are left out).
        oldest = _walk(http, admin.headers, {**mine, "order": "oldest", "limit": 7})
        assert [event["sequence"] for event in oldest if event["sequence"] <= sequences[0]] == sequences[::-1]
        # Without `order` the API keeps its oldest-first default.
        default = http.get("/v1/audit", headers=admin.headers, params={**mine, "limit": 3}).json()
        assert [event["sequence"] for event in default["events"]] == sequences[::-1][:3]

        # Unfiltered, one small page at a time: still strictly descending, no event twice.
        everything = _walk(http, admin.headers, {"order": "newest", "limit": 50})
        all_sequences = [event["sequence"] for event in everything]
        assert all_sequences == sorted(set(all_sequences), reverse=True)
        assert set(sequences) <= set(all_sequences)

        # `next_after` resumes in the order asked too.
        first = http.get(
            "/v1/audit", headers=admin.headers, params={**mine, "order": "newest", "limit": 2}
        ).json()
        second = http.get(
            "/v1/audit",
            headers=admin.headers,
            params={**mine, "order": "newest", "limit": 2, "after": first["next_after"]},
        ).json()
        assert second["events"][0]["sequence"] < first["events"][-1]["sequence"]

        # A cursor belongs to its order; an unknown order is refused in Vietnamese.
        oldest_cursor = http.get("/v1/audit", headers=admin.headers, params={**mine, "limit": 1}).json()
        refused = http.get(
            "/v1/audit",
            headers=admin.headers,
            params={"order": "newest", "cursor": oldest_cursor["next_cursor"]},
        )
        assert refused.status_code == 422 and "cursor" in refused.json()["detail"]
        bogus = http.get("/v1/audit", headers=admin.headers, params={"order": "moi-nhat"})
        assert bogus.status_code == 422
        assert "không hợp lệ" in bogus.json()["detail"] and "order" in bogus.json()["detail"]
