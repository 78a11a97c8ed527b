"""The document registry in NATS KV (`adapters/registry_nats.py`) on a real nats-server: the same
records as the SQLite registry, compare-and-set under concurrent writers (newest version wins, the
sequence only grows), the unit writer lease, and the SQLite file snapshots carry."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from services.ops.identity.adapters.nats_users import NatsAuth
from services.retrieval.adapters.registry_nats import NatsDocumentRegistry, StaleRecord
from services.retrieval.adapters.registry_sqlite import SqliteDocumentRegistry
from services.retrieval.domain.model import DocumentMetadata, DocumentRecord
from stack.natsserver import free_port, start_nats_server
from tests.support import unique_unit
from trolyao.messaging import API_KEYS_BUCKET, NatsCredential, connect
from trolyao.natsaccess import RETRIEVAL

pytestmark = pytest.mark.timeout(120)

DOCUMENT = "13/2023/NĐ-CP"
REFUSAL_WAIT_SECONDS = 1.0
WRITERS = 6


def record(version: int, *, document_id: str = DOCUMENT, deleted: bool = False) -> DocumentRecord:
    return DocumentRecord(
        document_id=document_id,
        version=version,
        content_hash="" if deleted else f"hash-{version}",
        chunk_count=0 if deleted else version,
        metadata=DocumentMetadata(title=f"Nghị định bản {version}"),
        deleted=deleted,
    )


@pytest.fixture
def registries(nats_server: str) -> Iterator[list[NatsDocumentRegistry]]:
    """Two connections, as two replicas have."""
    opened = [NatsDocumentRegistry.connect(nats_server, credential=None, replicas=1) for _ in range(2)]
    yield opened
    for registry in opened:
        registry.close()


def test_records_tombstones_and_sequence_round_trip(registries: list[NatsDocumentRegistry]) -> None:
    first, second = registries
    unit, other = unique_unit(), unique_unit()
    first.put(unit, record(1))
    first.put(unit, record(1, document_id="a/b c.d"))
    second.put(unit, record(2, document_id="a/b c.d", deleted=True))
    assert second.get(unit, DOCUMENT) == record(1)
    assert [r.document_id for r in first.list(unit)] == [DOCUMENT]
    assert {r.document_id for r in first.list(unit, include_deleted=True)} == {DOCUMENT, "a/b c.d"}
    assert first.get(other, DOCUMENT) is None and first.list(other) == []
    first.record_stream_sequence(unit, 7)
    second.record_stream_sequence(unit, 3)
    assert second.stream_sequence(unit) == 7 and first.stream_sequence(other) == 0
    generation = first.generation(unit)
    first.drop_unit(unit)
    assert second.list(unit, include_deleted=True) == [] and second.stream_sequence(unit) == 0
    assert second.generation(unit) > generation


def test_stale_versions_are_refused_and_tombstones_hold(registries: list[NatsDocumentRegistry]) -> None:
    first, second = registries
    unit = unique_unit()
    first.put(unit, record(3))
    with pytest.raises(StaleRecord):
        second.put(unit, record(2))
    second.put(unit, record(3, deleted=True))
    with pytest.raises(StaleRecord):
        first.put(unit, record(3))  # the same version does not come back after its delete
    first.put(unit, record(4))
    assert second.get(unit, DOCUMENT) == record(4)


def test_concurrent_writers_keep_the_newest_version_and_the_highest_sequence(
    registries: list[NatsDocumentRegistry],
) -> None:
    """Writers race on one key through two connections, each version written by several of them in
    shuffled order: every write is a compare-and-set, so the newest one is what remains."""
    unit = unique_unit()
    versions = [v for v in range(1, 13) for _ in range(2)]
    versions.reverse()
    start = threading.Barrier(WRITERS)

    def write(writer: int) -> None:
        registry = registries[writer % 2]
        start.wait()
        for version in versions[writer::WRITERS]:
            with contextlib.suppress(StaleRecord):
                registry.put(unit, record(version))
            registry.record_stream_sequence(unit, version * 10)

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, range(WRITERS)))
    assert registries[0].get(unit, DOCUMENT) == record(12)
    assert registries[1].stream_sequence(unit) == 120


def test_the_writer_lease_admits_one_replica_at_a_time(registries: list[NatsDocumentRegistry]) -> None:
    unit = unique_unit()
    inside: list[int] = []
    overlaps: list[int] = []
    active = threading.Lock()

    def work(writer: int) -> None:
        for _ in range(3):
            with registries[writer % 2].hold(unit):
                if not active.acquire(blocking=False):
                    overlaps.append(writer)
                    continue
                inside.append(writer)
                time.sleep(0.01)
                active.release()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    assert overlaps == [] and len(inside) == 12


def test_an_expired_lease_of_a_lost_replica_is_taken_over(nats_server: str) -> None:
    unit = unique_unit()
    lost = NatsDocumentRegistry.connect(nats_server, credential=None, replicas=1, lease_seconds=0.5)
    survivor = NatsDocumentRegistry.connect(nats_server, credential=None, replicas=1)
    try:
        lost._acquire(unit)  # a replica that took the lease and died before releasing it
        started = time.monotonic()
        with survivor.hold(unit):
            survivor.put(unit, record(1))
        assert time.monotonic() - started < 60
        assert survivor.get(unit, DOCUMENT) == record(1)
    finally:
        lost.close()
        survivor.close()


def test_snapshot_files_are_sqlite_registries_both_ways(
    registries: list[NatsDocumentRegistry], tmp_path: Path
) -> None:
    """Archives carry `registry.sqlite` in both modes: a NATS unit exports one an SQLite registry
    reads, and loads one back (the previous content kept aside until the restore succeeded)."""
    first, _second = registries
    unit = unique_unit()
    first.put(unit, record(2))
    first.put(unit, record(5, document_id="gone", deleted=True))
    first.record_stream_sequence(unit, 42)
    exported = tmp_path / "registry.sqlite"
    first.backup_unit(unit, exported)
    (tmp_path / "sqlite" / unit).mkdir(parents=True)
    exported.rename(tmp_path / "sqlite" / unit / "registry.sqlite")
    sqlite = SqliteDocumentRegistry(tmp_path / "sqlite")
    assert sqlite.list(unit, include_deleted=True) == first.list(unit, include_deleted=True)
    assert sqlite.stream_sequence(unit) == 42
    sqlite.put(unit, record(3))
    archive = tmp_path / "staging" / "registry.sqlite"
    archive.parent.mkdir()
    sqlite.backup_unit(unit, archive)
    sqlite.close()

    first.put(unit, record(9, document_id="newer"))
    previous = first.replace_unit(unit, archive)
    assert first.get(unit, DOCUMENT) == record(3) and first.get(unit, "newer") is None
    assert first.stream_sequence(unit) == 42
    first.restore_previous(unit, previous)
    assert first.get(unit, DOCUMENT) == record(2) and first.get(unit, "newer") == record(
        9, document_id="newer"
    )


@pytest.fixture(scope="module")
def server_with_users(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, NatsAuth]]:
    """A nats-server of its own with the stack's users, so a test can log in as `retrieval` (the
    session's server hands out only the operator's URL)."""
    store = tmp_path_factory.mktemp("nats-users")
    auth = NatsAuth(store / "auth")
    port = free_port()
    process = start_nats_server(port=port, store_dir=store, auth=auth, log_path=store / "nats.log")
    yield f"nats://127.0.0.1:{port}", auth
    process.terminate()
    process.wait(timeout=10)


def test_the_retrieval_identity_runs_the_registry_and_reaches_nothing_else(
    server_with_users: tuple[str, NatsAuth], tmp_path: Path
) -> None:
    """Everything the adapter does (create the bucket, compare-and-set, list, lease, purge, archive
    files) is allowed to retrieval's own NATS user; another bucket is not."""
    url, auth = server_with_users
    credential = NatsCredential(RETRIEVAL, auth.password(RETRIEVAL))
    registry = NatsDocumentRegistry.connect(url, credential=credential, replicas=1)
    unit = unique_unit()
    try:
        with registry.hold(unit):
            registry.put(unit, record(1))
            registry.record_stream_sequence(unit, 3)
        assert registry.list(unit) == [record(1)] and registry.stream_sequence(unit) == 3
        registry.backup_unit(unit, tmp_path / "registry.sqlite")
        registry.drop_unit(unit)
        assert registry.get(unit, DOCUMENT) is None
    finally:
        registry.close()

    async def read_another_bucket() -> None:
        client = await connect(url, name="test-retrieval", credential=credential)
        try:
            await client.jetstream(timeout=REFUSAL_WAIT_SECONDS).key_value(API_KEYS_BUCKET)
        finally:
            await client.close()

    # nats-server drops a request its permissions refuse: the client's request times out.
    with pytest.raises((NatsTimeoutError, NoRespondersError)):
        asyncio.run(read_another_bucket())
