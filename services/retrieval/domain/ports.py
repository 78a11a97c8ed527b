"""Ports of the retrieval service: what its domain needs from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from services.retrieval.domain.model import (
    ChunkKind,
    DocumentRecord,
    GenerationPassage,
    ScoredChunk,
    SparseVector,
    StoredChunk,
)


class VectorStore(Protocol):
    """One index per unit; no call ever reads or writes another unit's points.

    Implementations: `adapters.vectorstore_edge.EdgeVectorStore` (Qdrant Edge, one shard per unit,
    the embedded default) and `adapters.vectorstore_qdrant.QdrantServerVectorStore` (a Qdrant server
    through qdrant-client; its tests use qdrant-client local mode). Both pass
    `tests/contract/test_vectorstore_contract.py`.
    """

    def upsert_chunks(self, unit: str, chunks: Sequence[StoredChunk]) -> None:
        """Insert or overwrite chunks (a chunk's identity: unit, document id, ordinal)."""

    def delete_document(self, unit: str, document_id: str) -> None:
        """Remove every chunk of the document; a no-op when there is none."""

    def search_sparse(
        self, unit: str, vector: SparseVector, *, limit: int, kind: ChunkKind | None = None
    ) -> list[ScoredChunk]:
        """Best chunks by sparse dot product with IDF weighting, highest score first."""

    def search_dense(
        self, unit: str, vector: Sequence[float], *, limit: int, kind: ChunkKind | None = None
    ) -> list[ScoredChunk]:
        """Best chunks by cosine similarity of the dense vectors, highest first."""

    def document_chunks(self, unit: str, document_id: str) -> list[ScoredChunk]:
        """All chunks of one document in ordinal order (score 0)."""

    def count(self, unit: str, document_id: str | None = None) -> int:
        """Number of chunks of the unit, or of one of its documents."""

    def units(self) -> list[str]:
        """Units that have an index."""

    def drop_unit(self, unit: str) -> None:
        """Remove the unit's whole index."""

    def flush(self) -> None:
        """Make every acknowledged write durable."""

    def close(self) -> None:
        """Release files and handles."""


class Embedder(Protocol):
    """Dense text embeddings. Vectors of different `model_id`s never share an index."""

    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed_passages(self, texts: Sequence[str]) -> list[tuple[float, ...]]: ...

    def embed_query(self, text: str) -> tuple[float, ...]: ...


class Generator(Protocol):
    """A chat model that answers a question from numbered passages (optional generative mode).

    Implementation: `adapters.generator_openai.OpenAICompatibleGenerator`. Its output is never
    trusted: `domain.generation` checks every sentence against the passages it cites and keeps the
    extractive answer when the check fails. May raise on any transport or server failure.
    """

    def generate(self, question: str, passages: Sequence[GenerationPassage]) -> str:
        """The model's answer text, citing passages as `[n]`, or the fixed abstention token."""


class DocumentRegistry(Protocol):
    """Which version of each document a unit's index holds, including deletions (tombstones)."""

    def get(self, unit: str, document_id: str) -> DocumentRecord | None: ...

    def put(self, unit: str, record: DocumentRecord) -> None: ...

    def list(self, unit: str, *, include_deleted: bool = False) -> list[DocumentRecord]: ...

    def drop_unit(self, unit: str) -> None: ...


class UnitWriterLock(Protocol):
    """Who may change a unit's index now. One process alone: a lock per unit (the Indexer's
    default). Replicas sharing a Qdrant server: a lease in the shared registry
    (`adapters.registry_nats.NatsDocumentRegistry.hold`), so two replicas never interleave the
    delete-and-upsert of one unit's documents."""

    def hold(self, unit: str) -> AbstractContextManager[None]: ...
