"""The indexer applies document changes exactly once and in version order, per unit."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from services.retrieval.adapters.registry_sqlite import SqliteDocumentRegistry
from services.retrieval.adapters.vectorstore_edge import EdgeVectorStore
from services.retrieval.domain.indexing import Indexer, IndexOutcome
from services.retrieval.domain.model import Chunk, DocumentMetadata, SparseVector
from trolyao.vietnamese import fold_diacritics


def tiny_sparse(chunk: Chunk, metadata: DocumentMetadata) -> SparseVector:
    """A stand-in encoder for these tests only: folded words hashed, weight 1."""
    words = sorted({zlib.crc32(word.encode()) for word in fold_diacritics(chunk.text).split()})
    return SparseVector(indices=tuple(words), values=tuple(1.0 for _ in words))


@pytest.fixture
def indexer(tmp_path: Path) -> Indexer:
    return Indexer(
        store=EdgeVectorStore(tmp_path / "shards", dense_dimension=4),
        registry=SqliteDocumentRegistry(tmp_path / "registry"),
        embedder=None,
        encode_sparse=tiny_sparse,
    )


def chunks(*texts: str) -> list[Chunk]:
    return [Chunk(ordinal=i, text=text) for i, text in enumerate(texts)]


def index(
    indexer: Indexer, unit: str, doc: str, version: int, *texts: str, content_hash: str = ""
) -> IndexOutcome:
    return indexer.index_document(
        unit,
        doc,
        version=version,
        content_hash=content_hash or f"h{version}",
        metadata=DocumentMetadata(title=doc),
        chunks=chunks(*texts),
    ).outcome


def count(indexer: Indexer, unit: str, doc: str | None = None) -> int:
    return indexer._store.count(unit, doc)


def test_versions_apply_in_order_whatever_the_arrival_order(indexer: Indexer) -> None:
    assert index(indexer, "u1", "d", 2, "hai", "ba", "bốn") is IndexOutcome.INDEXED
    assert index(indexer, "u1", "d", 1, "một") is IndexOutcome.STALE
    assert count(indexer, "u1", "d") == 3
    assert index(indexer, "u1", "d", 2, "hai", "ba", "bốn") is IndexOutcome.UNCHANGED
    assert index(indexer, "u1", "d", 3, "năm") is IndexOutcome.INDEXED
    assert count(indexer, "u1", "d") == 1, "a changed document leaves no stale chunks"


def test_delete_keeps_a_tombstone_against_late_older_upserts(indexer: Indexer) -> None:
    index(indexer, "u1", "d", 5, "nội dung")
    assert indexer.delete_document("u1", "d", version=6).outcome is IndexOutcome.DELETED
    assert count(indexer, "u1", "d") == 0
    assert index(indexer, "u1", "d", 5, "nội dung") is IndexOutcome.STALE
    assert count(indexer, "u1", "d") == 0
    assert index(indexer, "u1", "d", 7, "tạo lại") is IndexOutcome.INDEXED
    assert count(indexer, "u1", "d") == 1
    assert indexer.delete_document("u1", "d", version=4).outcome is IndexOutcome.STALE
    assert count(indexer, "u1", "d") == 1


def test_units_are_independent(indexer: Indexer) -> None:
    index(indexer, "u1", "d", 1, "a", "b")
    index(indexer, "u2", "d", 1, "c")
    indexer.delete_document("u1", "d", version=2)
    assert count(indexer, "u1") == 0
    assert count(indexer, "u2", "d") == 1


class RecordingListener:
    """Counts what a per-unit model would see; fails once on demand."""

    def __init__(self) -> None:
        self.texts: dict[str, int] = {}
        self.fail_next = False

    def __call__(self, unit: str, *, added: object, removed: object) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("listener failed")
        for chunk in removed:  # type: ignore[attr-defined]
            self.texts[chunk.chunk.text] -= 1
        for chunk in added:  # type: ignore[attr-defined]
            self.texts[chunk.chunk.text] = self.texts.get(chunk.chunk.text, 0) + 1


def test_listeners_see_every_change_and_a_failure_is_redone_on_redelivery(tmp_path: Path) -> None:
    listener = RecordingListener()
    indexer = Indexer(
        store=EdgeVectorStore(tmp_path / "shards", dense_dimension=4),
        registry=SqliteDocumentRegistry(tmp_path / "registry"),
        embedder=None,
        encode_sparse=tiny_sparse,
        listeners=[listener],
    )
    index(indexer, "u1", "d", 1, "một", "hai")
    listener.fail_next = True
    with pytest.raises(RuntimeError):
        index(indexer, "u1", "d", 2, "ba")
    assert index(indexer, "u1", "d", 2, "ba") is IndexOutcome.INDEXED  # the redelivery
    indexer.delete_document("u1", "d", version=3)
    index(indexer, "u1", "e", 1, "bốn")
    assert {text: n for text, n in listener.texts.items() if n} == {"bốn": 1}
