"""Retrieval's half of snapshots, in-process: export a consistent cut of one unit, import it back.

Runs on the real stores (Qdrant Edge shards, and a Qdrant server's API through qdrant-client's
local mode) with the real registry and answer engine.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from services.retrieval.adapters.registry_sqlite import SqliteDocumentRegistry
from services.retrieval.adapters.unit_archive import ArchiveRejected, copy_sparse, data_extents
from services.retrieval.adapters.unit_model_files import FileUnitModelRepository, read_model_file
from services.retrieval.adapters.unit_transfer import ExportedArchive, UnitTransfer, build_unit_transfer
from services.retrieval.adapters.vectorstore_edge import EdgeVectorStore
from services.retrieval.adapters.vectorstore_qdrant import QdrantServerVectorStore
from services.retrieval.domain.answering import AnswerEngine
from services.retrieval.domain.indexing import Indexer
from services.retrieval.domain.lexical import document_sparse_vector
from services.retrieval.domain.model import Chunk, ChunkKind, DocumentMetadata
from services.retrieval.domain.ports import VectorStore

pytestmark = pytest.mark.timeout(120)

DIMENSION = 384
MODEL = "none"
QUESTIONS = (
    "Thời hạn giải quyết hồ sơ cấp phép loại 3 là bao lâu?",
    "Lệ phí thẩm định hồ sơ loại 7 là bao nhiêu?",
    "Ai có thẩm quyền cấp phép loại 11?",
)


@dataclass
class Retrieval:
    root: Path
    store: VectorStore
    registry: SqliteDocumentRegistry
    indexer: Indexer
    engine: AnswerEngine
    transfer: UnitTransfer

    def index(self, unit: str, document_id: str, number: int, *, version: int = 1) -> None:
        self.indexer.index_document(
            unit,
            document_id,
            version=version,
            content_hash=f"h{number}-{version}",
            metadata=DocumentMetadata(title=f"Quy định cấp phép loại {number}"),
            chunks=[
                Chunk(
                    ordinal=0,
                    text=f"Thời hạn giải quyết hồ sơ cấp phép loại {number} là {number + 10} ngày làm việc.",
                ),
                Chunk(ordinal=1, text=f"Lệ phí thẩm định hồ sơ loại {number} là {number * 100}.000 đồng."),
                Chunk(
                    ordinal=2, text=f"Bộ trưởng có thẩm quyền cấp phép loại {number}.", kind=ChunkKind.PASSAGE
                ),
            ],
        )

    def answers(self, unit: str) -> list[tuple[bool, str, tuple[str, ...]]]:
        replies = [self.engine.ask(unit, question) for question in QUESTIONS]
        return [(a.answered, a.text, tuple(c.document_id for c in a.citations)) for a in replies]

    def documents(self, unit: str) -> dict[str, int]:
        return {record.document_id: record.version for record in self.registry.list(unit)}

    def import_archive(
        self, unit: str, archive: Path, *, sha256: str | None = None, size: int | None = None
    ) -> None:
        with self.transfer.receiving(unit) as staging:
            incoming = staging / "incoming.tar.gz"
            shutil.copy(archive, incoming)
            self.transfer.import_unit(
                unit,
                incoming,
                size=size if size is not None else archive.stat().st_size,
                sha256=sha256 or hashlib.sha256(archive.read_bytes()).hexdigest(),
            )


def build(root: Path, store: VectorStore, *, model: str = MODEL, carry_models: bool = False) -> Retrieval:
    """Retrieval's snapshot half over `store`; `carry_models`: as bootstrap wires it, archives carry
    the unit model files (tests/snapshots/test_restore_swap.py), otherwise restores recount them."""
    registry = SqliteDocumentRegistry(root / "registry")
    model_files = FileUnitModelRepository(root / "unit-models")
    engine = AnswerEngine(store, None, unit_models=model_files)
    indexer = Indexer(
        store=store,
        registry=registry,
        embedder=None,
        encode_sparse=document_sparse_vector,
        listeners=[engine.on_document_changed],
    )
    transfer = build_unit_transfer(
        store=store,
        registry=registry,
        indexer=indexer,
        engine=engine,
        embedding_model=model,
        dense_dimension=DIMENSION,
        data_root=root,
        model_files=model_files if carry_models else None,
        read_model=read_model_file if carry_models else None,
    )
    return Retrieval(root, store, registry, indexer, engine, transfer)


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[Retrieval]:
    store = EdgeVectorStore(tmp_path / "shards", dense_dimension=DIMENSION)
    retrieval = build(tmp_path, store)
    yield retrieval
    store.close()
    retrieval.registry.close()


def keep(exported: ExportedArchive, target: Path) -> Path:
    shutil.copy(exported.path, target)
    exported.discard()
    return target


def fill(retrieval: Retrieval, unit: str, count: int = 12) -> None:
    for number in range(count):
        retrieval.index(unit, f"qd-{number}", number)


def test_export_then_import_restores_documents_answers_and_stream_sequence(
    edge: Retrieval, tmp_path: Path
) -> None:
    fill(edge, "a")
    edge.indexer.delete_document("a", "qd-5", version=2)
    edge.registry.record_stream_sequence("a", 41)
    documents, answers, chunks = edge.documents("a"), edge.answers("a"), edge.store.count("a")
    exported = edge.transfer.export_unit("a")
    assert (exported.info.chunks, exported.info.documents, exported.info.stream_sequence) == (chunks, 11, 41)
    archive = keep(exported, tmp_path / "a.tar.gz")
    assert archive.stat().st_size < 1_000_000  # holes of the preallocated shard files are not stored

    edge.indexer.delete_document("a", "qd-1", version=5)
    edge.index("a", "qd-2", 99, version=7)
    edge.registry.record_stream_sequence("a", 50)
    edge.import_archive("a", archive)

    assert edge.documents("a") == documents
    assert edge.registry.get("a", "qd-5") is not None and edge.registry.get("a", "qd-5").deleted  # type: ignore[union-attr]
    assert edge.store.count("a") == chunks
    assert edge.registry.stream_sequence("a") == 41
    assert edge.answers("a") == answers
    assert not list(edge.root.glob("shards/.restore-*")) and not list(edge.root.glob("shards/.export-*"))


def test_import_after_the_files_were_deleted_under_the_running_store(edge: Retrieval, tmp_path: Path) -> None:
    fill(edge, "a")
    answers = edge.answers("a")
    archive = keep(edge.transfer.export_unit("a"), tmp_path / "a.tar.gz")
    shutil.rmtree(edge.root / "shards" / "a")
    shutil.rmtree(edge.root / "registry" / "a")
    with pytest.raises(Exception):  # noqa: B017 - the damaged shard cannot flush (any engine error)
        edge.store.flush()
    edge.import_archive("a", archive)
    edge.store.flush()
    assert edge.answers("a") == answers


def flip_a_bit_that_matters(data: bytearray) -> bytearray:
    """Flip one bit from the middle on, skipping bits deflate ignores (a stored block's padding,
    an unused code length): such a flip leaves the content intact, and accepting it is right."""
    original = gzip.decompress(bytes(data))
    for position in range(len(data) // 2, len(data)):
        damaged = bytearray(data)
        damaged[position] ^= 0x01
        try:
            if gzip.decompress(bytes(damaged)) == original:
                continue
        except (OSError, EOFError, zlib.error):
            pass
        return damaged
    raise AssertionError("no bit of the archive's second half changes its content")


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_archive_is_refused_and_the_live_index_is_untouched(
    edge: Retrieval, tmp_path: Path, damage: str
) -> None:
    fill(edge, "a")
    archive = keep(edge.transfer.export_unit("a"), tmp_path / "a.tar.gz")
    edge.index("a", "qd-new", 40)
    documents, answers = edge.documents("a"), edge.answers("a")
    data = bytearray(archive.read_bytes())
    original_sha = hashlib.sha256(data).hexdigest()
    if damage == "flip":
        data = flip_a_bit_that_matters(data)
    else:
        del data[len(data) // 2 :]
    archive.write_bytes(bytes(data))

    # As sent with the manifest's checksum: refused before anything is unpacked.
    with pytest.raises(ArchiveRejected, match="tổng kiểm"):
        edge.import_archive("a", archive, sha256=original_sha, size=len(data))
    # Even with a checksum that matches the damaged bytes, gzip's own check refuses it.
    with pytest.raises(ArchiveRejected):
        edge.import_archive("a", archive)
    assert edge.documents("a") == documents
    assert edge.answers("a") == answers


def test_archive_of_another_unit_or_model_is_refused(edge: Retrieval, tmp_path: Path) -> None:
    fill(edge, "a", 3)
    fill(edge, "b", 2)
    archive = keep(edge.transfer.export_unit("a"), tmp_path / "a.tar.gz")
    with pytest.raises(ArchiveRejected, match="đơn vị a"):
        edge.import_archive("b", archive)
    other_model = build(
        tmp_path / "other",
        EdgeVectorStore(tmp_path / "other" / "shards", dense_dimension=DIMENSION),
        model="e5",
    )
    with pytest.raises(ArchiveRejected, match="mô hình nhúng"):
        other_model.import_archive("a", archive)
    assert len(edge.documents("b")) == 2


def test_other_units_are_not_touched(edge: Retrieval, tmp_path: Path) -> None:
    fill(edge, "a", 4)
    fill(edge, "b", 4)
    archive = keep(edge.transfer.export_unit("a"), tmp_path / "a.tar.gz")
    edge.index("b", "qd-extra", 30)
    answers_b = edge.answers("b")
    edge.import_archive("a", archive)
    assert edge.answers("b") == answers_b
    assert "qd-extra" in edge.documents("b")


def test_sparse_copy_keeps_holes(tmp_path: Path) -> None:
    source = tmp_path / "sparse.bin"
    with source.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024)
        handle.seek(10 * 1024 * 1024)
        handle.write(b"payload")
    target = tmp_path / "copy.bin"
    copied = copy_sparse(source, target)
    assert target.read_bytes() == source.read_bytes()
    assert copied < 1024 * 1024 or len(data_extents(source.open("rb"), source.stat().st_size)) == 1


def test_points_archive_on_a_qdrant_server_api(tmp_path: Path) -> None:
    client = QdrantClient(path=str(tmp_path / "qdrant-local"))
    store = QdrantServerVectorStore(client, dense_dimension=DIMENSION)
    retrieval = build(tmp_path, store)
    try:
        fill(retrieval, "a")
        documents, answers, chunks = retrieval.documents("a"), retrieval.answers("a"), store.count("a")
        exported = retrieval.transfer.export_unit("a")
        assert exported.info.format == "points/1"
        archive = keep(exported, tmp_path / "a.tar.gz")
        retrieval.indexer.delete_document("a", "qd-0", version=3)
        retrieval.import_archive("a", archive)
        assert retrieval.documents("a") == documents
        assert store.count("a") == chunks
        # Points are inserted again, so hits with equal scores may come back in another order:
        # the answer and its first source must not change.
        assert [(ok, text, cited[:1]) for ok, text, cited in retrieval.answers("a")] == [
            (ok, text, cited[:1]) for ok, text, cited in answers
        ]
    finally:
        store.close()
        retrieval.registry.close()
