"""Replacing and deleting a document's chunks, exactly once and in version order.

The version check and the write happen under the unit's writer lock: a per-unit lock in one
process, or a lease in the shared registry when replicas share one Qdrant server
(`ports.UnitWriterLock`). Whatever order events arrive in, and at whichever replica (duplicates, old
versions after new ones, deletes before creates), the index ends holding the newest version only.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from services.retrieval.domain.model import (
    Chunk,
    DocumentMetadata,
    DocumentRecord,
    ScoredChunk,
    SparseVector,
    StoredChunk,
)
from services.retrieval.domain.ports import DocumentRegistry, Embedder, UnitWriterLock, VectorStore
from services.retrieval.domain.search import dense_passage_text
from trolyao.vietnamese import normalize_text


class IndexOutcome(StrEnum):
    INDEXED = "indexed"
    UNCHANGED = "unchanged"
    STALE = "stale"
    DELETED = "deleted"
    NOT_FOUND = "not_found"


@dataclass(frozen=True, slots=True)
class IndexResult:
    outcome: IndexOutcome
    chunk_count: int
    current_version: int


SparseEncoder = Callable[[Chunk, DocumentMetadata], SparseVector]


class IndexListener(Protocol):
    """Told of a document's chunk change (e.g. to keep per-unit language models in step) just before
    the store is written: a listener that fails leaves the index untouched, and the event's
    redelivery redoes the whole change."""

    def __call__(
        self, unit: str, *, added: Sequence[StoredChunk], removed: Sequence[ScoredChunk]
    ) -> None: ...


class Indexer:
    """Applies document changes to one unit's index under that unit's lock."""

    def __init__(
        self,
        *,
        store: VectorStore,
        registry: DocumentRegistry,
        embedder: Embedder | None,
        encode_sparse: SparseEncoder,
        listeners: Sequence[IndexListener] = (),
        writer_lock: UnitWriterLock | None = None,
    ) -> None:
        """`writer_lock`: where a unit's writers queue; None: a lock per unit in this process."""
        self._store = store
        self._registry = registry
        self._embedder = embedder
        self._encode_sparse = encode_sparse
        self._listeners = list(listeners)
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        self._writer_lock = writer_lock

    def unit_lock(self, unit: str) -> AbstractContextManager[None]:
        """Held while the unit's index changes (also by snapshot export and import)."""
        if self._writer_lock is not None:
            return self._writer_lock.hold(unit)
        return self._local_lock(unit)

    @contextmanager
    def _local_lock(self, unit: str) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks[unit]
        with lock:
            yield

    def index_document(
        self,
        unit: str,
        document_id: str,
        *,
        version: int,
        content_hash: str,
        metadata: DocumentMetadata,
        chunks: Sequence[Chunk],
        force: bool = False,
    ) -> IndexResult:
        """Replace the document's chunks with these, unless a newer version is already recorded.

        `force` rebuilds a version that is already indexed (reindex); it never overrides a newer one.
        """
        chunks = [_normalized(chunk) for chunk in chunks]
        with self.unit_lock(unit):
            current = self._registry.get(unit, document_id)
            if current is not None and current.version > version:
                return IndexResult(IndexOutcome.STALE, current.chunk_count, current.version)
            if (
                not force
                and current is not None
                and current.version == version
                and not current.deleted
                and current.content_hash == content_hash
                and self._store.count(unit, document_id) == current.chunk_count
            ):
                return IndexResult(IndexOutcome.UNCHANGED, current.chunk_count, current.version)
            if current is not None and current.version == version and current.deleted:
                return IndexResult(IndexOutcome.STALE, 0, current.version)
            dense = self._embed(chunks, metadata)
            stored = [
                StoredChunk(
                    unit=unit,
                    document_id=document_id,
                    version=version,
                    chunk=chunk,
                    metadata=metadata,
                    sparse=self._encode_sparse(chunk, metadata),
                    dense=dense[position] if dense is not None else None,
                )
                for position, chunk in enumerate(chunks)
            ]
            previous = self._previous_chunks(unit, current)
            for listener in self._listeners:
                listener(unit, added=stored, removed=previous)
            self._store.delete_document(unit, document_id)
            if stored:
                self._store.upsert_chunks(unit, stored)
            self._registry.put(
                unit,
                DocumentRecord(
                    document_id=document_id,
                    version=version,
                    content_hash=content_hash,
                    chunk_count=len(stored),
                    metadata=metadata,
                ),
            )
            return IndexResult(IndexOutcome.INDEXED, len(stored), version)

    def delete_document(self, unit: str, document_id: str, *, version: int) -> IndexResult:
        """Remove the document's chunks and keep a tombstone so older upserts stay out."""
        with self.unit_lock(unit):
            current = self._registry.get(unit, document_id)
            if current is not None and current.version > version:
                return IndexResult(IndexOutcome.STALE, current.chunk_count, current.version)
            previous = self._previous_chunks(unit, current)
            for listener in self._listeners:
                listener(unit, added=(), removed=previous)
            self._store.delete_document(unit, document_id)
            self._registry.put(
                unit,
                DocumentRecord(
                    document_id=document_id,
                    version=version,
                    content_hash="",
                    chunk_count=0,
                    metadata=current.metadata if current else DocumentMetadata(),
                    deleted=True,
                ),
            )
            outcome = IndexOutcome.DELETED if current and not current.deleted else IndexOutcome.NOT_FOUND
            return IndexResult(outcome, 0, version)

    def _previous_chunks(self, unit: str, current: DocumentRecord | None) -> list[ScoredChunk]:
        if current is None or current.deleted or not self._listeners:
            return []
        return self._store.document_chunks(unit, current.document_id)

    def _embed(self, chunks: Sequence[Chunk], metadata: DocumentMetadata) -> list[tuple[float, ...]] | None:
        if self._embedder is None or not chunks:
            return None
        return self._embedder.embed_passages([dense_passage_text(chunk, metadata) for chunk in chunks])


def _normalized(chunk: Chunk) -> Chunk:
    return Chunk(
        ordinal=chunk.ordinal,
        text=normalize_text(chunk.text),
        path=chunk.path,
        kind=chunk.kind,
        question=normalize_text(chunk.question),
        extra=chunk.extra,
    )
