"""Unit ownership per retrieval worker, on the whole stack with two retrieval processes.

Documents of several units go in through the normal path (gateway → NATS → ingest → retrieval);
each unit's shard is opened by its owner only (trolyao/routing.py: crc32 of the unit id mod 2);
asks for every unit are answered through the gateway from that unit's documents alone; a worker
refuses a unit it does not own; a restarted worker serves its units again; deleting a unit reaches
its owner. Snapshots and restores across workers run in tests/snapshots (their stack has two).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import psutil
import pytest

from stack.launcher import Stack
from tests.snapshots.conftest import ask, put_document, wait_for_status
from tests.support import bootstrap_client, fast_stack, started, unique_unit
from trolyao.routing import owner_index
from trolyao.rpc import sync_channel
from trolyao.v1 import retrieval_pb2, retrieval_pb2_grpc

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]

WORKERS = 2
UNITS_PER_WORKER = 2
# Each unit gets its own fact: a fee of a different amount, so an answer shows whose index it read.
FEES = ("1.100.000", "2.200.000", "3.300.000", "4.400.000")
QUESTION = "Lệ phí cấp giấy phép thiết lập trang thông tin điện tử tổng hợp là bao nhiêu?"


def fee_document(fee: str) -> tuple[str, str]:
    return (
        "Thông tư quy định lệ phí cấp phép",
        "Điều 3. Mức thu lệ phí\nLệ phí cấp giấy phép thiết lập trang thông tin điện tử tổng hợp là "
        f"{fee} đồng mỗi giấy phép.\n\nĐiều 4. Thời hạn nộp\nTổ chức nộp lệ phí trước khi nhận giấy phép.",
    )


def units_of_every_worker() -> list[str]:
    """Fresh unit ids, UNITS_PER_WORKER owned by each worker."""
    found: dict[int, list[str]] = {index: [] for index in range(WORKERS)}
    while any(len(units) < UNITS_PER_WORKER for units in found.values()):
        unit = unique_unit("tho")
        owned = found[owner_index(unit, WORKERS)]
        if len(owned) < UNITS_PER_WORKER:
            owned.append(unit)
    return [unit for units in found.values() for unit in units]


@pytest.fixture(scope="module")
def workers_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = fast_stack(tmp_path_factory.mktemp("workers-stack"), retrieval_workers=WORKERS)
    with started(stack):
        yield stack


@pytest.fixture(scope="module")
def admin(workers_stack: Stack) -> Iterator[httpx.Client]:
    with bootstrap_client(workers_stack, timeout=120.0) as client:
        yield client


@pytest.fixture(scope="module")
def units(workers_stack: Stack, admin: httpx.Client) -> list[str]:
    """Four units (two per worker), each with its own fee document, indexed through the gateway."""
    chosen = units_of_every_worker()
    for unit, fee in zip(chosen, FEES, strict=True):
        admin.put(f"/v1/units/{unit}", json={"name": f"Đơn vị {unit}"}).raise_for_status()
        put_document(admin, unit, f"le-phi-{unit}", *fee_document(fee), 1)
    for unit in chosen:
        wait_for_status(admin, unit, f"le-phi-{unit}", "indexed")
    return chosen


def stub(address: str, stack: Stack) -> retrieval_pb2_grpc.RetrievalServiceStub:
    return retrieval_pb2_grpc.RetrievalServiceStub(sync_channel(address, service_token=stack.service_token))


def shards_held(process: psutil.Process, shards: Path) -> set[str]:
    """The units whose shard files the process has open or mapped."""
    paths = {item.path for item in process.open_files()} | {item.path for item in process.memory_maps()}
    return {Path(path).relative_to(shards).parts[0] for path in paths if Path(path).is_relative_to(shards)}


def test_the_stack_starts_one_process_per_worker_each_on_its_own_port(workers_stack: Stack) -> None:
    assert workers_stack.retrieval_keys == ["retrieval", "retrieval-w1"]
    assert len(set(workers_stack.retrieval_ports)) == WORKERS
    assert all(workers_stack.processes[key].poll() is None for key in workers_stack.retrieval_keys)
    ready = httpx.get(f"{workers_stack.gateway_url}/readyz", timeout=10.0)
    assert ready.status_code == 200, ready.text


def assert_held_by_owners(stack: Stack, units: list[str]) -> None:
    shards = stack.data_dir / "retrieval" / "shards"
    assert {unit for unit in units if (shards / unit).is_dir()} == set(units)
    for index, key in enumerate(stack.retrieval_keys):
        held = shards_held(psutil.Process(stack.processes[key].pid), shards) & set(units)
        assert held == {unit for unit in units if owner_index(unit, WORKERS) == index}, key


def test_each_units_index_is_held_by_its_owner_only(workers_stack: Stack, units: list[str]) -> None:
    assert_held_by_owners(workers_stack, units)


def test_every_unit_is_answered_through_the_gateway_from_its_own_documents(
    admin: httpx.Client, units: list[str]
) -> None:
    for unit, fee in zip(units, FEES, strict=True):
        body = ask(admin, unit, QUESTION)
        assert body["answered"] is True, body
        assert fee in str(body["answer"]), body
        assert {c["document_id"] for c in body["citations"]} == {f"le-phi-{unit}"}  # type: ignore[union-attr]
        assert not any(other in str(body) for other in FEES if other != fee)
        chunks = admin.get(f"/v1/units/{unit}/documents/le-phi-{unit}/chunks")
        assert chunks.status_code == 200, chunks.text
        assert fee in chunks.text


def test_a_worker_refuses_a_unit_it_does_not_own(workers_stack: Stack, units: list[str]) -> None:
    for unit in units:
        owner = owner_index(unit, WORKERS)
        other = workers_stack.retrieval_addresses[1 - owner]
        with pytest.raises(grpc.RpcError) as refused:
            stub(other, workers_stack).Ask(retrieval_pb2.AskRequest(unit=unit, question=QUESTION), timeout=30)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "TROLYAO_RETRIEVAL_ADDRESSES" in str(refused.value.details())
        with pytest.raises(grpc.RpcError) as refused_write:
            stub(other, workers_stack).DeleteUnit(retrieval_pb2.DeleteUnitIndexRequest(unit=unit), timeout=30)
        assert refused_write.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        stats = stub(workers_stack.retrieval_address(unit), workers_stack).GetUnitStats(
            retrieval_pb2.GetUnitStatsRequest(unit=unit), timeout=30
        )
        assert stats.documents == 1 and stats.chunks > 0


def test_a_restarted_worker_serves_its_units_again(
    workers_stack: Stack, admin: httpx.Client, units: list[str]
) -> None:
    workers_stack.kill("retrieval-w1")
    workers_stack.restart("retrieval-w1")
    workers_stack.wait_ready()
    for unit, fee in zip(units, FEES, strict=True):
        assert fee in str(ask(admin, unit, QUESTION)["answer"])
    assert_held_by_owners(workers_stack, units)  # at start a worker opens only its own units' shards


def test_deleting_a_unit_reaches_its_owner_and_leaves_the_others(
    workers_stack: Stack, admin: httpx.Client, units: list[str]
) -> None:
    doomed = units[-1]  # owned by worker 1
    deleted = admin.delete(f"/v1/units/{doomed}", params={"snapshot": "false"})
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["chunks"] > 0
    stats = stub(workers_stack.retrieval_address(doomed), workers_stack).GetUnitStats(
        retrieval_pb2.GetUnitStatsRequest(unit=doomed), timeout=30
    )
    assert (stats.documents, stats.chunks) == (0, 0)
    for unit, fee in zip(units[:-1], FEES, strict=False):
        assert fee in str(ask(admin, unit, QUESTION)["answer"])
