"""Point-in-time restore (issue 14) and the limits on snapshots (finding 10), on the whole stack.

The drill of the issue: 50 documents deleted through a stolen unit key; a restore "up to just
before" brings every one back, keeps the change made between the snapshot and the theft, and
skips exactly the 50 deletes (the preview lists them first). A unit's on-demand snapshots are
limited per hour (429 with Retry-After); deleting a snapshot needs a ministry admin's fresh OTP.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from stack.launcher import Stack
from tests.snapshots.conftest import (
    INDEX_TIMEOUT_SECONDS,
    POLL_SECONDS,
    indexed_documents,
    login_ministry_admin,
    put_document,
    wait_for_status,
)
from tests.support import unique_unit

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]
STOLEN_DELETES = 50


def _wait_for_listing(client: httpx.Client, unit: str, expected: set[str]) -> None:
    deadline = time.monotonic() + INDEX_TIMEOUT_SECONDS
    while time.monotonic() < deadline and set(indexed_documents(client, unit)) != expected:
        time.sleep(POLL_SECONDS)
    assert set(indexed_documents(client, unit)) == expected


def test_point_in_time_restore_undoes_a_mass_delete_through_a_stolen_unit_key(
    snapshot_stack: Stack, admin: httpx.Client
) -> None:
    unit = unique_unit("pitr")
    admin.put(f"/v1/units/{unit}", json={"name": "Đơn vị bị đánh cắp khóa"}).raise_for_status()
    documents = {
        f"qd-{n:02d}": f"Điều {n}. Quy định số {n} về thủ tục hành chính." for n in range(STOLEN_DELETES)
    }
    for document_id, text in documents.items():
        put_document(admin, unit, document_id, f"Quyết định {document_id}", text, 1)
    _wait_for_listing(admin, unit, set(documents))
    taken = admin.post("/v1/snapshots", json={"unit": unit})
    assert taken.status_code == 201, taken.text
    snapshot_id = taken.json()["snapshot_id"]
    # A legitimate change after the snapshot and before the theft must survive the restore.
    put_document(admin, unit, "qd-00", "Quyết định qd-00 (sửa đổi)", "Điều 0. Bản sửa đổi hợp lệ.", 2)
    wait_for_status(admin, unit, "qd-00", "indexed", version=2)
    time.sleep(0.05)
    just_before = datetime.now(UTC)
    time.sleep(0.05)

    stolen = admin.post(
        "/v1/api-keys", json={"name": "Khóa hệ thống đơn vị", "units": [unit], "scopes": ["write"]}
    )
    assert stolen.status_code == 201, stolen.text
    with httpx.Client(
        base_url=snapshot_stack.gateway_url,
        headers={"Authorization": f"Bearer {stolen.json()['api_key']}"},
        timeout=60.0,
    ) as thief:
        for document_id in documents:
            assert thief.delete(f"/v1/units/{unit}/documents/{document_id}").status_code == 202
    _wait_for_listing(admin, unit, set())

    auditor = login_ministry_admin(snapshot_stack)
    bound = {"unit": unit, "up_to_time": just_before.isoformat()}
    preview = httpx.post(
        f"{snapshot_stack.gateway_url}/v1/snapshots/{snapshot_id}/restore/preview",
        json=bound,
        headers=auditor.headers,
        timeout=60.0,
    )
    assert preview.status_code == 200, preview.text
    (unit_preview,) = preview.json()["units"]
    assert unit_preview["skipped_events"] == STOLEN_DELETES
    assert {event["kind"] for event in unit_preview["skipped"]} == {"delete"}
    assert {event["document_id"] for event in unit_preview["skipped"]} == set(documents)
    assert unit_preview["replay_to_sequence"] < min(event["sequence"] for event in unit_preview["skipped"])

    restored = httpx.post(
        f"{snapshot_stack.gateway_url}/v1/snapshots/{snapshot_id}/restore",
        json=bound,
        headers=auditor.headers,
        timeout=300.0,
    )
    assert restored.status_code == 200, restored.text
    (report,) = restored.json()["units"]
    assert report["skipped_events"] == STOLEN_DELETES
    assert report["replayed_events"] >= 1  # the legitimate revision
    assert indexed_documents(admin, unit) == {d: (2 if d == "qd-00" else 1) for d in documents}
    for document_id in documents:
        status = admin.get(f"/v1/units/{unit}/documents/{document_id}").json()
        assert status["status"] == "indexed", status
    answer = admin.post(f"/v1/units/{unit}/ask", json={"question": "Bản sửa đổi hợp lệ là điều mấy?"}).json()
    assert answer["citations"] and answer["citations"][0]["document_id"] == "qd-00"


def test_a_unit_cannot_fill_the_disk_with_on_demand_snapshots(admin: httpx.Client) -> None:
    unit = unique_unit("limit")
    admin.put(f"/v1/units/{unit}", json={"name": "Đơn vị chụp liên tục"}).raise_for_status()
    replies = [admin.post("/v1/snapshots", json={"unit": unit}) for _ in range(6)]
    statuses = [reply.status_code for reply in replies]
    assert statuses[:4] == [201] * 4 and statuses[4:] == [429, 429], statuses
    assert int(replies[-1].headers["Retry-After"]) > 0
    assert replies[-1].json()["code"] == "rate_limited"
    listed = admin.get(f"/v1/snapshots?unit={unit}").json()["snapshots"]
    assert len(listed) == 4


def test_deleting_a_snapshot_needs_a_ministry_admin_with_a_fresh_otp(
    snapshot_stack: Stack, admin: httpx.Client
) -> None:
    unit = unique_unit("xoa")
    admin.put(f"/v1/units/{unit}", json={"name": "Đơn vị xóa bản chụp"}).raise_for_status()
    snapshot_id = admin.post("/v1/snapshots", json={"unit": unit}).json()["snapshot_id"]
    assert (
        admin.delete(f"/v1/snapshots/{snapshot_id}").status_code == 403
    )  # an API key, even the bootstrap one
    auditor = login_ministry_admin(snapshot_stack)
    url = f"{snapshot_stack.gateway_url}/v1/snapshots/{snapshot_id}"
    assert httpx.delete(url, headers=auditor.headers, timeout=60.0).status_code == 204
    assert admin.get(f"/v1/snapshots?unit={unit}").json()["snapshots"] == []
    assert httpx.delete(url, headers=auditor.headers, timeout=60.0).status_code == 404
    trail = httpx.get(
        f"{snapshot_stack.gateway_url}/v1/audit",
        params={"action": "snapshot.deleted", "limit": 1000},
        headers=auditor.headers,
        timeout=30.0,
    ).json()["events"]
    assert [event["target"] for event in trail].count(snapshot_id) == 1
