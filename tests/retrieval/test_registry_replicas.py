"""Two retrieval replicas sharing one registry (NATS KV) and one vector store keep exactly-once,
newest-version-wins indexing whichever replica each event reaches, and answer alike.

Each replica is the service as `bootstrap` wires it with `TROLYAO_RETRIEVAL_REGISTRY=nats`: its own
registry connection to a real nats-server (its own unit writer lease owner), its own Indexer and
answer engine (unit models recounted from the shared index), its own gRPC server on its own port;
calls go over real gRPC. What stands in for the Qdrant server: the two replicas share one
qdrant-client local-mode client in this process (no Qdrant server binary runs here, and local mode
cannot be opened by two processes), each through its own `QdrantServerVectorStore`.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from qdrant_client import QdrantClient

from services.retrieval.adapters.registry_nats import NatsDocumentRegistry
from services.retrieval.adapters.unit_model_shared import SharedIndexUnitModels
from services.retrieval.adapters.vectorstore_qdrant import QdrantServerVectorStore
from services.retrieval.bootstrap import RetrievalApp, bootstrap
from services.retrieval.settings import RetrievalSettings
from tests.support import unique_unit
from trolyao.conversions import chunk_to_proto, metadata_to_proto
from trolyao.documents import Chunk, DocumentMetadata
from trolyao.rpc import sync_channel
from trolyao.v1 import retrieval_pb2, retrieval_pb2_grpc

pytestmark = pytest.mark.timeout(300)

DIMENSION = 8
DECREE = "13/2023/NĐ-CP"
CIRCULAR = "05/2024/TT-BTC"
DECISION = "QĐ 12/2024"
QUESTIONS = (
    f"Thời hạn giải quyết hồ sơ cấp phép theo {DECREE} là bao nhiêu ngày?",
    "Thời hạn giải quyết hồ sơ cấp phép là bao nhiêu ngày?",
    "Lệ phí thẩm định hồ sơ là bao nhiêu?",
    "Ai có thẩm quyền cấp phép?",
)
CONCURRENT_VERSIONS = 12
SETTLE_ROUNDS = 100
SETTLE_PAUSE_SECONDS = 0.1
T = TypeVar("T")
INDEXED = retrieval_pb2.INDEX_OUTCOME_INDEXED
UNCHANGED = retrieval_pb2.INDEX_OUTCOME_UNCHANGED
STALE = retrieval_pb2.INDEX_OUTCOME_STALE
DELETED = retrieval_pb2.INDEX_OUTCOME_DELETED


@dataclass
class Replica:
    app: RetrievalApp
    stub: retrieval_pb2_grpc.RetrievalServiceStub


@pytest.fixture
def replicas(nats_server: str, tmp_path: Path) -> Iterator[list[Replica]]:
    client = QdrantClient(path=str(tmp_path / "qdrant-local"))
    started: list[Replica] = []
    try:
        for name in ("a", "b"):
            settings = RetrievalSettings(
                data_dir=tmp_path / name,
                listen="127.0.0.1:0",
                embedder="none",
                registry="nats",
                nats_url=nats_server,
                unit_model_refresh_seconds=0,
                embeddings_dimension=DIMENSION,
            )
            app = bootstrap(settings, store=QdrantServerVectorStore(client, dense_dimension=DIMENSION))
            port = app.start()
            stub = retrieval_pb2_grpc.RetrievalServiceStub(sync_channel(f"127.0.0.1:{port}"))
            started.append(Replica(app, stub))
        yield started
    finally:
        for replica in started:
            if replica.app.server is not None:
                replica.app.server.stop(0).wait()
            replica.app.registry.close()
        client.close()


def chunks_of(document_id: str, version: int) -> list[Chunk]:
    """Version v has v + 1 chunks, so a leftover chunk of another version shows in the counts."""
    days = 10 + version
    texts = [
        f"Thời hạn giải quyết hồ sơ cấp phép theo {document_id} là {days} ngày làm việc.",
        f"Lệ phí thẩm định hồ sơ theo {document_id} là {version * 100}.000 đồng.",
        f"Bộ trưởng có thẩm quyền cấp phép theo {document_id}.",
    ]
    return [Chunk(ordinal=n, text=texts[n % len(texts)] + f" (mục {n})") for n in range(version + 1)]


def index(
    replica: Replica, unit: str, document_id: str, version: int, *, sequence: int = 0
) -> retrieval_pb2.IndexDocumentResponse:
    response: retrieval_pb2.IndexDocumentResponse = replica.stub.IndexDocument(
        retrieval_pb2.IndexDocumentRequest(
            unit=unit,
            document_id=document_id,
            version=version,
            content_hash=f"{document_id}@{version}",
            metadata=metadata_to_proto(DocumentMetadata(title=f"Văn bản {document_id}", number=document_id)),
            chunks=[chunk_to_proto(chunk) for chunk in chunks_of(document_id, version)],
            stream_sequence=sequence,
        ),
        timeout=60,
    )
    return response


def delete(
    replica: Replica, unit: str, document_id: str, version: int, *, sequence: int = 0
) -> retrieval_pb2.DeleteDocumentResponse:
    response: retrieval_pb2.DeleteDocumentResponse = replica.stub.DeleteDocument(
        retrieval_pb2.DeleteDocumentRequest(
            unit=unit, document_id=document_id, version=version, stream_sequence=sequence
        ),
        timeout=60,
    )
    return response


def assert_holds_exactly(replicas: list[Replica], unit: str, expected: dict[str, int]) -> None:
    """Each live document holds exactly its newest version's chunks, once; both replicas agree."""
    store = replicas[0].app.store
    for document_id, version in expected.items():
        hits = store.document_chunks(unit, document_id)
        assert [hit.chunk.ordinal for hit in hits] == list(range(version + 1)), document_id
        assert {hit.version for hit in hits} == {version}, document_id
    assert store.count(unit) == sum(version + 1 for version in expected.values())
    listings = [
        {
            d.document_id: (d.version, d.chunk_count)
            for d in r.stub.ListDocuments(retrieval_pb2.ListDocumentsRequest(unit=unit), timeout=30).documents
        }
        for r in replicas
    ]
    assert listings[0] == listings[1] == {d: (v, v + 1) for d, v in expected.items()}


def settled(read: Callable[[], T]) -> T:
    """What `read` gives once two reads in a row agree (and a list's items agree with each other: the
    replicas' answers): a replica recounts a unit's language model in the background after the unit
    moved, and answers from the previous one meanwhile."""
    previous = read()
    for _ in range(SETTLE_ROUNDS):
        time.sleep(SETTLE_PAUSE_SECONDS)
        current = read()
        if current == previous and (not isinstance(current, list) or all(x == current[0] for x in current)):
            return current
        previous = current
    raise AssertionError("the replicas' answers did not settle")


def eventually(condition: Callable[[], bool]) -> None:
    for _ in range(SETTLE_ROUNDS):
        if condition():
            return
        time.sleep(SETTLE_PAUSE_SECONDS)
    raise AssertionError("the condition did not come true")


def settled_answers(replicas: list[Replica], unit: str) -> list[list[bytes]]:
    return settled(lambda: [answers(replica, unit) for replica in replicas])


def answers(replica: Replica, unit: str) -> list[bytes]:
    return [
        replica.stub.Ask(
            retrieval_pb2.AskRequest(unit=unit, question=question), timeout=30
        ).SerializeToString(deterministic=True)
        for question in QUESTIONS
    ]


def test_events_alternating_between_replicas_keep_exactly_once_and_newest_wins(
    replicas: list[Replica],
) -> None:
    a, b = replicas
    unit = unique_unit("ha")
    sequence = itertools.count(1)
    assert index(a, unit, DECREE, 1, sequence=next(sequence)).outcome == INDEXED
    assert index(b, unit, DECREE, 1, sequence=next(sequence)).outcome == UNCHANGED  # redelivered
    assert index(a, unit, DECREE, 3, sequence=next(sequence)).outcome == INDEXED
    assert index(b, unit, DECREE, 2, sequence=next(sequence)).outcome == STALE  # out of order
    assert index(b, unit, CIRCULAR, 1, sequence=next(sequence)).outcome == INDEXED
    assert delete(a, unit, CIRCULAR, 2, sequence=next(sequence)).outcome == DELETED
    assert index(b, unit, CIRCULAR, 1, sequence=next(sequence)).outcome == STALE  # stale upsert after delete
    assert index(a, unit, CIRCULAR, 2, sequence=next(sequence)).outcome == STALE  # the deleted version
    assert index(b, unit, DECISION, 1, sequence=next(sequence)).outcome == INDEXED
    last = next(sequence) - 1

    assert_holds_exactly(replicas, unit, {DECREE: 3, DECISION: 1})
    tombstones = [r for r in a.app.registry.list(unit, include_deleted=True) if r.deleted]
    assert [(r.document_id, r.version) for r in tombstones] == [(CIRCULAR, 2)]
    stats = [r.stub.GetUnitStats(retrieval_pb2.GetUnitStatsRequest(unit=unit), timeout=30) for r in replicas]
    assert stats[0] == stats[1] and stats[0].stream_sequence == last and stats[0].chunks == 6

    replies, replies_of_b = settled_answers(replicas, unit)
    assert replies == replies_of_b
    first = retrieval_pb2.AskResponse.FromString(replies[0])
    assert first.answered and "13 ngày" in first.answer  # version 3's text, not 1's or 2's
    assert all(
        c.document_id != CIRCULAR
        for reply in replies
        for c in retrieval_pb2.AskResponse.FromString(reply).citations
    )


def test_concurrent_versions_through_both_replicas_leave_one_copy_of_the_newest(
    replicas: list[Replica],
) -> None:
    """Every version, some twice, sent at once to both replicas in shuffled order: the lease keeps
    one writer per unit at a time, the CAS keeps the newest record, the store holds one copy."""
    unit = unique_unit("ha")
    calls = [(version, replica) for version in range(1, CONCURRENT_VERSIONS + 1) for replica in (0, 1)]
    random.Random(17).shuffle(calls)
    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(lambda call: index(replicas[call[1]], unit, DECREE, call[0]).outcome, calls))
    assert outcomes.count(INDEXED) >= 1 and set(outcomes) <= {INDEXED, UNCHANGED, STALE}
    assert_holds_exactly(replicas, unit, {DECREE: CONCURRENT_VERSIONS})
    first, second = settled_answers(replicas, unit)
    assert first == second


def test_a_snapshot_exported_by_one_replica_restores_through_the_other(replicas: list[Replica]) -> None:
    """Export/import with the NATS registry: the archive's registry.sqlite comes from KV and goes back
    into it; the other replica then answers from the restored unit like the first."""
    a, b = replicas
    unit = unique_unit("ha")
    index(a, unit, DECREE, 2, sequence=5)
    index(b, unit, DECISION, 1, sequence=6)
    before, _ = settled_answers(replicas, unit)
    exported = list(a.stub.ExportUnit(retrieval_pb2.ExportUnitRequest(unit=unit), timeout=60))
    assert exported[0].info.format == "points/1" and exported[0].info.stream_sequence == 6
    delete(b, unit, DECREE, 3, sequence=7)
    index(a, unit, CIRCULAR, 1, sequence=8)
    restored = b.stub.ImportUnit(iter(exported), timeout=60)
    assert restored.info.documents == 2 and restored.info.stream_sequence == 6
    assert_holds_exactly(replicas, unit, {DECREE: 2, DECISION: 1})
    after_a, after_b = settled_answers(replicas, unit)
    assert after_a == after_b == before


class FlakyGenerations:
    """Stands in for a NATS outage (the one thing here that cannot be broken on demand): the shared
    registry's generations until `down` is set, then the error a lost connection gives."""

    def __init__(self, registry: NatsDocumentRegistry) -> None:
        self.registry = registry
        self.down = False

    def generation(self, unit: str) -> int:
        if self.down:
            raise TimeoutError("nats: timeout")
        return self.registry.generation(unit)


def test_a_replica_recounts_a_unit_that_moved_and_keeps_answering_when_nats_is_unreachable(
    replicas: list[Replica],
) -> None:
    a, b = replicas
    unit = unique_unit("ha")
    index(a, unit, DECREE, 1)
    registry = a.app.registry
    assert isinstance(registry, NatsDocumentRegistry)
    generations = FlakyGenerations(registry)
    models = SharedIndexUnitModels(
        store=a.app.store, registry=registry, generations=generations, check_seconds=0
    )
    assert models.get(unit).chunk_count == 2  # a unit's first model is counted before it is used
    index(b, unit, DECREE, 2)  # the other replica moves the unit: recounted in the background
    eventually(lambda: models.get(unit).chunk_count == 3)
    generations.down = True
    index(b, unit, DECREE, 3)
    assert models.get(unit).chunk_count == 3  # the model it has, no error
    generations.down = False
    eventually(lambda: models.get(unit).chunk_count == 4)


def test_a_shared_registry_beside_embedded_shards_is_refused(tmp_path: Path) -> None:
    """Qdrant Edge shards are one process's files: the NATS registry is only for a Qdrant server."""
    settings = RetrievalSettings(
        data_dir=tmp_path, embedder="none", registry="nats", nats_url="nats://127.0.0.1:1"
    )
    with pytest.raises(ValueError, match="QDRANT_URL"):
        bootstrap(settings)
