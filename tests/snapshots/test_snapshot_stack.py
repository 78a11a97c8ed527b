"""Snapshots and restores on the whole stack as separate processes (real NATS, real gRPC, gateway).

Snapshot → more document changes → the unit's index wiped → restore through the gateway (ministry
admin with a fresh OTP) → the index holds exactly the documents of the last acknowledged event and
answers as before the wipe. Damaged snapshots are refused with the live index untouched; a restore
of one unit leaves another unit's answers alone; restores without a fresh OTP are refused; the
drill runs end to end.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import grpc
import httpx
import pytest

from services.ops.recovery.settings import SnapshotSettings
from services.ops.recovery.use_cases.drill import run_drill
from stack.launcher import Stack
from tests.snapshots.conftest import (
    LoggedInAdmin,
    ask,
    delete_document,
    put_document,
    wait_for_status,
)
from tests.support import unique_unit
from trolyao.routing import owner_index
from trolyao.rpc import sync_channel
from trolyao.v1 import ops_pb2, retrieval_pb2, retrieval_pb2_grpc, snapshots_pb2, snapshots_pb2_grpc

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]

DOCUMENTS = {
    "cap-phep": (
        "Quy chế cấp phép báo chí điện tử",
        "Điều 1. Phạm vi điều chỉnh\nQuy chế này quy định việc cấp giấy phép hoạt động báo chí điện tử.\n\n"
        "Điều 2. Thời hạn giải quyết\nThời hạn cấp giấy phép hoạt động báo chí điện tử là 30 ngày kể từ "
        "ngày nhận đủ hồ sơ hợp lệ.",
    ),
    "le-phi": (
        "Thông tư quy định lệ phí cấp phép",
        "Điều 3. Mức thu lệ phí\nLệ phí cấp giấy phép thiết lập trang thông tin điện tử tổng hợp là "
        "2.000.000 đồng mỗi giấy phép.",
    ),
    "bao-cao": (
        "Quy định chế độ báo cáo",
        "Điều 5. Kỳ báo cáo\nCác cơ quan báo chí gửi báo cáo định kỳ trước ngày 15 tháng 12 hằng năm.",
    ),
    "xu-phat": (
        "Nghị định xử phạt vi phạm hành chính",
        "Điều 7. Mức phạt tiền\nPhạt tiền từ 10.000.000 đồng đến 20.000.000 đồng đối với hành vi không lưu "
        "trữ thông tin theo quy định.",
    ),
}
UPDATED_FEE = (
    "Thông tư quy định lệ phí cấp phép (sửa đổi)",
    "Điều 3. Mức thu lệ phí\nLệ phí cấp giấy phép thiết lập trang thông tin điện tử tổng hợp là "
    "3.000.000 đồng mỗi giấy phép.",
)
ADDED = (
    "Quy định hợp tác quốc tế",
    "Điều 2. Thời hạn thẩm định\nThời hạn thẩm định hồ sơ hợp tác quốc tế về báo chí là 20 ngày làm việc.",
)
QUESTIONS = (
    "Thời hạn cấp giấy phép hoạt động báo chí điện tử là bao lâu?",
    "Lệ phí cấp giấy phép thiết lập trang thông tin điện tử tổng hợp là bao nhiêu?",
    "Các cơ quan báo chí gửi báo cáo định kỳ trước ngày nào?",
    "Mức phạt tiền đối với hành vi không lưu trữ thông tin là bao nhiêu?",
    "Thời hạn thẩm định hồ sơ hợp tác quốc tế về báo chí là bao lâu?",
)


def retrieval_stub(stack: Stack, unit: str) -> retrieval_pb2_grpc.RetrievalServiceStub:
    """The stub of the retrieval worker that owns the unit (the stack runs two)."""
    return retrieval_pb2_grpc.RetrievalServiceStub(
        sync_channel(stack.retrieval_address(unit), service_token=stack.service_token)
    )


def index_state(stack: Stack, unit: str) -> tuple[dict[str, int], int]:
    """What retrieval's index holds for the unit: {document id: version}, and the chunk count."""
    stub = retrieval_stub(stack, unit)
    listed = stub.ListDocuments(retrieval_pb2.ListDocumentsRequest(unit=unit), timeout=30)
    stats = stub.GetUnitStats(retrieval_pb2.GetUnitStatsRequest(unit=unit), timeout=30)
    return {doc.document_id: doc.version for doc in listed.documents}, stats.chunks


def answers(client: httpx.Client, unit: str) -> list[tuple[object, ...]]:
    replies = [ask(client, unit, question) for question in QUESTIONS]
    return [
        (r["answered"], r["answer"], tuple((c["document_id"], c.get("path")) for c in r["citations"]))  # type: ignore[union-attr]
        for r in replies
    ]


def create_unit_with_documents(admin: httpx.Client, unit: str) -> None:
    admin.put(f"/v1/units/{unit}", json={"name": f"Đơn vị {unit}"}).raise_for_status()
    for document_id, (title, text) in DOCUMENTS.items():
        put_document(admin, unit, document_id, title, text, 1)
    for document_id in DOCUMENTS:
        wait_for_status(admin, unit, document_id, "indexed")


def take_snapshot(admin: httpx.Client, unit: str) -> str:
    reply = admin.post("/v1/snapshots", json={"unit": unit})
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["units"][0]["unit"] == unit
    assert {part["kind"] for part in body["parts"]} == {"unit_index", "unit_kv", "unit_originals"}
    assert all(len(part["sha256"]) == 64 for part in body["parts"])
    return str(body["snapshot_id"])


def restore(stack: Stack, who: LoggedInAdmin, snapshot_id: str, unit: str) -> httpx.Response:
    return httpx.post(
        f"{stack.gateway_url}/v1/snapshots/{snapshot_id}/restore",
        json={"unit": unit},
        headers=who.headers,
        timeout=120.0,
    )


def wipe_unit_index(stack: Stack, unit: str) -> None:
    """A lost disk for one unit: its retrieval worker crashes, the unit's shard and registry are gone."""
    owner = stack.retrieval_keys[owner_index(unit, stack.retrieval_workers)]
    stack.kill(owner)
    shutil.rmtree(stack.data_dir / "retrieval" / "shards" / unit)
    shutil.rmtree(stack.data_dir / "retrieval" / "registry" / unit)
    stack.restart(owner)
    stack.wait_ready()


def test_restore_brings_back_every_acknowledged_change(
    snapshot_stack: Stack, admin: httpx.Client, ministry_admin: LoggedInAdmin
) -> None:
    unit = unique_unit("khoiphuc")
    create_unit_with_documents(admin, unit)
    snapshot_id = take_snapshot(admin, unit)

    put_document(admin, unit, "le-phi", *UPDATED_FEE, 2)
    delete_document(admin, unit, "bao-cao")
    put_document(admin, unit, "hop-tac", *ADDED, 1)
    wait_for_status(admin, unit, "le-phi", "indexed", version=2)
    wait_for_status(admin, unit, "bao-cao", "deleted")
    wait_for_status(admin, unit, "hop-tac", "indexed")
    expected_documents, expected_chunks = index_state(snapshot_stack, unit)
    assert expected_documents == {"cap-phep": 1, "le-phi": 2, "xu-phat": 1, "hop-tac": 1}
    before = answers(admin, unit)
    assert sum(1 for answered, *_ in before if answered) >= 3, before

    wipe_unit_index(snapshot_stack, unit)
    assert index_state(snapshot_stack, unit) == ({}, 0)

    reply = restore(snapshot_stack, ministry_admin, snapshot_id, unit)
    assert reply.status_code == 200, reply.text
    report = reply.json()["units"][0]
    assert report["replay_complete"] is True, report
    assert report["replayed_events"] >= 3
    assert {phase["name"] for phase in report["phases"]} >= {"import", "replay"}
    assert index_state(snapshot_stack, unit) == (expected_documents, expected_chunks)
    after = answers(admin, unit)
    assert after == before
    assert "3.000.000" in str(ask(admin, unit, QUESTIONS[1])["answer"])

    listed = admin.get("/v1/snapshots", params={"unit": unit}).json()["snapshots"]
    assert [s["snapshot_id"] for s in listed] == [snapshot_id]


def test_damaged_snapshots_are_refused_and_the_live_index_is_untouched(
    snapshot_stack: Stack, admin: httpx.Client, ministry_admin: LoggedInAdmin
) -> None:
    unit = unique_unit("hong")
    create_unit_with_documents(admin, unit)
    snapshot_id = take_snapshot(admin, unit)
    put_document(admin, unit, "hop-tac", *ADDED, 1)
    wait_for_status(admin, unit, "hop-tac", "indexed")
    live_state, live_answers = index_state(snapshot_stack, unit), answers(admin, unit)
    part = snapshot_stack.data_dir / "snapshots" / snapshot_id / "units" / unit / "index.tar.gz"
    pristine = part.read_bytes()

    flipped = bytearray(pristine)
    flipped[len(flipped) // 2] ^= 0x01
    part.write_bytes(bytes(flipped))
    refused = restore(snapshot_stack, ministry_admin, snapshot_id, unit)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "SHA-256" in refused.json()["detail"]
    verified = admin.post(f"/v1/snapshots/{snapshot_id}/verify", json={"unit": unit}).json()
    assert verified["ok"] is False and verified["code"] == "snapshot_corrupted"

    part.write_bytes(pristine[: len(pristine) // 2])
    truncated = restore(snapshot_stack, ministry_admin, snapshot_id, unit)
    assert truncated.status_code == 409, truncated.text
    assert "cắt cụt" in truncated.json()["detail"]

    assert index_state(snapshot_stack, unit) == live_state
    assert answers(admin, unit) == live_answers
    part.write_bytes(pristine)
    assert admin.post(f"/v1/snapshots/{snapshot_id}/verify", json={"unit": unit}).json()["ok"] is True


def test_restoring_one_unit_leaves_another_units_answers_alone(
    snapshot_stack: Stack, admin: httpx.Client, ministry_admin: LoggedInAdmin
) -> None:
    restored_unit, busy_unit = unique_unit("phuchoi"), unique_unit("dangdung")
    create_unit_with_documents(admin, restored_unit)
    create_unit_with_documents(admin, busy_unit)
    snapshot_id = take_snapshot(admin, restored_unit)
    baseline = answers(admin, busy_unit)
    seen: list[list[tuple[object, ...]]] = []
    failures: list[str] = []
    stop = threading.Event()

    def keep_asking() -> None:
        with httpx.Client(
            base_url=snapshot_stack.gateway_url,
            headers={"Authorization": f"Bearer {snapshot_stack.api_key}"},
            timeout=60.0,
        ) as client:
            while not stop.is_set():
                try:
                    seen.append(answers(client, busy_unit))
                except AssertionError as error:
                    failures.append(str(error))

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        time.sleep(0.2)
        reply = restore(snapshot_stack, ministry_admin, snapshot_id, restored_unit)
        assert reply.status_code == 200, reply.text
    finally:
        stop.set()
        asker.join(timeout=60)
    assert not failures, failures[:3]
    assert seen and all(round_ == baseline for round_ in seen)


def test_restore_needs_a_ministry_admin_with_a_fresh_otp(snapshot_stack: Stack, admin: httpx.Client) -> None:
    unit = unique_unit("otp")
    admin.put(f"/v1/units/{unit}", json={"name": "Đơn vị OTP"}).raise_for_status()
    snapshot_id = take_snapshot(admin, unit)

    with_api_key = admin.post(f"/v1/snapshots/{snapshot_id}/restore", json={"unit": unit})
    assert with_api_key.status_code == 403, with_api_key.text
    anonymous = httpx.post(
        f"{snapshot_stack.gateway_url}/v1/snapshots/{snapshot_id}/restore", json={"unit": unit}
    )
    assert anonymous.status_code == 401

    # Ops checks again, whoever calls it: no token, or a token that is not a ministry admin's.
    ops = snapshots_pb2_grpc.SnapshotServiceStub(
        sync_channel(f"127.0.0.1:{snapshot_stack.ports.ops}", service_token=snapshot_stack.service_token)
    )
    with pytest.raises(grpc.RpcError) as caught:
        ops.RestoreSnapshot(
            snapshots_pb2.RestoreSnapshotRequest(snapshot_id=snapshot_id, unit=unit, caller=ops_pb2.Caller()),
            timeout=30,
        )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_recovery_drill(snapshot_stack: Stack, admin: httpx.Client, tmp_path: Path) -> None:
    import asyncio

    unit = unique_unit("dientap")
    create_unit_with_documents(admin, unit)
    settings = SnapshotSettings(
        data_dir=snapshot_stack.data_dir,
        nats_url=snapshot_stack.nats_url,
        retrieval_addresses=",".join(snapshot_stack.retrieval_addresses),
        service_token=snapshot_stack.service_token,
    )
    report = asyncio.run(run_drill(unit=unit, questions=QUESTIONS, settings=settings, actor="drill:test"))
    assert report.passed, report
    assert report.chunks_after == report.chunks_before > 0
    assert {phase.name for phase in report.phases} >= {
        "ask_before",
        "snapshot",
        "damage",
        "restore",
        "ask_after",
    }
    assert not (snapshot_stack.data_dir / "snapshots" / report.snapshot_id).exists()


def test_snapshot_and_restore_of_everything(
    snapshot_stack: Stack, admin: httpx.Client, ministry_admin: LoggedInAdmin
) -> None:
    unit = unique_unit("toanbo")
    create_unit_with_documents(admin, unit)
    taken = admin.post("/v1/snapshots", json={"all_units": True})
    assert taken.status_code == 201, taken.text
    snapshot = taken.json()
    assert snapshot["scope"] == "all"
    assert unit in {entry["unit"] for entry in snapshot["units"]}
    assert {"buckets/units.json", "buckets/api_keys.json", "buckets/ops_accounts.json"} <= {
        part["name"] for part in snapshot["parts"]
    }
    put_document(admin, unit, "hop-tac", *ADDED, 1)
    wait_for_status(admin, unit, "hop-tac", "indexed")
    expected = index_state(snapshot_stack, unit)

    reply = httpx.post(
        f"{snapshot_stack.gateway_url}/v1/snapshots/{snapshot['snapshot_id']}/restore",
        json={"all_units": True},
        headers=ministry_admin.headers,
        timeout=300.0,
    )
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert len(report["units"]) == len(snapshot["units"])
    assert all(item["replay_complete"] for item in report["units"])
    assert report["restored_buckets"] == []  # live buckets are never overwritten
    assert index_state(snapshot_stack, unit) == expected
