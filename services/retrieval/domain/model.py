"""Domain types of the retrieval service (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

from trolyao.documents import Chunk, ChunkKind, DocumentMetadata


@dataclass(frozen=True, slots=True)
class SparseVector:
    """Term weights keyed by a stable 32-bit term id (see `domain.lexical`)."""

    indices: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk as the vector store keeps it: where it comes from, its vectors, its payload."""

    unit: str
    document_id: str
    version: int
    chunk: Chunk
    metadata: DocumentMetadata
    sparse: SparseVector
    dense: tuple[float, ...] | None = None

    @property
    def point_key(self) -> str:
        return f"{self.unit}/{self.document_id}/{self.chunk.ordinal}"


@dataclass(frozen=True, slots=True)
class ScoredChunk:
    """A search hit: the chunk, its document and the store's score for this query."""

    document_id: str
    version: int
    chunk: Chunk
    metadata: DocumentMetadata
    score: float


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """What the registry knows of one document of a unit (including deletions: tombstones)."""

    document_id: str
    version: int
    content_hash: str
    chunk_count: int
    metadata: DocumentMetadata
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Citation:
    document_id: str
    title: str
    snippet: str
    path: str = ""
    number: str = ""
    source_url: str = ""
    chunk_ordinal: int = 0
    score: float = 0.0
    role: str = "answer"  # "answer", "related" or "closest" (under an abstention)
    passage: str = ""  # the whole passage the snippet comes from
    question: str = ""  # an FAQ passage's question (its name in a citation)


@dataclass(frozen=True, slots=True)
class GenerationPassage:
    """One numbered passage shown to a `Generator`: the model cites it as `[number]`."""

    number: int
    text: str
    title: str = ""
    document_number: str = ""
    path: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    """The assistant's reply: answered with citations, or an abstention (answered=False)."""

    answered: bool
    text: str
    citations: tuple[Citation, ...] = ()
    confidence: float = 0.0
    source: str = "none"  # "faq", "extractive", "generative" or "none"
    resolved_question: str = ""
    signals: dict[str, float] = field(default_factory=dict)


__all__ = [
    "Answer",
    "Chunk",
    "ChunkKind",
    "Citation",
    "DocumentMetadata",
    "DocumentRecord",
    "GenerationPassage",
    "ScoredChunk",
    "SparseVector",
    "StoredChunk",
]
