"""Hybrid search inside one unit: sparse + dense retrieval, reciprocal-rank fusion, reranking."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from services.retrieval.domain.lexical import weighted_query_sparse_vector
from services.retrieval.domain.matching import QuestionTerms, coverage, sentence_coverage, text_terms
from services.retrieval.domain.model import ChunkKind, ScoredChunk
from services.retrieval.domain.ports import Embedder, VectorStore
from services.retrieval.domain.sentences import split_sentences
from services.retrieval.fitted import reranker as reranker_weights
from trolyao.documents import Chunk, DocumentMetadata

logger = logging.getLogger(__name__)

CandidateKey = tuple[str, int]
LOG_LENGTH_SCALE = 7.0


@dataclass(frozen=True, slots=True)
class SearchSettings:
    """Knobs of retrieval. RRF k=2 beat k=60 on every dev set (BASELINES.md)."""

    sparse_limit: int = 50
    dense_limit: int = 50
    rrf_k: float = 2.0
    sparse_weight: float = 1.0
    dense_weight: float = 1.0
    rerank_depth: int = 30
    # None: fused order, and the sentence features only a reranker reads are not computed.
    reranker: RerankerWeights | None = None


@dataclass(frozen=True, slots=True)
class RerankerWeights:
    """A linear reranker over `RERANK_FEATURES` (fitted on dev questions: scripts/fit_reranker.py)."""

    weights: Mapping[str, float]

    def score(self, features: Mapping[str, float]) -> float:
        """The candidate's reranked score (a logit: higher is better)."""
        return sum(self.weights.get(name, 0.0) * value for name, value in features.items())


# Fitted with dense features (scripts/fit_reranker.py --dense): leave-one-set-out it lifts fused
# recall@1 by 1–3 points on the span sets; lexical-only it gained ≤0.6 and is not used.
HYBRID_RERANKER = RerankerWeights(weights=reranker_weights.FITTED_RERANKER_WEIGHTS)

RERANK_FEATURES: tuple[str, ...] = (
    "rrf_sparse",
    "rrf_dense",
    "sparse_relative",
    "dense_gap",
    "coverage",
    "bigram_coverage",
    "special_coverage",
    "missing_max_idf",
    "title_coverage",
    "title_bigram_coverage",
    "log_length",
    "is_faq",
    "sentence_coverage",
    "sentence_bigram_coverage",
    "dense_score",
)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to search for: weighted texts for the sparse side, one text for the dense side."""

    sparse_parts: tuple[tuple[str, float], ...]
    dense_text: str
    terms: QuestionTerms


@dataclass(slots=True)
class Candidate:
    """A fused hit with the signals that ranked it (used again by the composer and verifier)."""

    hit: ScoredChunk
    sparse_rank: int | None = None
    dense_rank: int | None = None
    sparse_score: float = 0.0
    dense_score: float = 0.0
    fused: float = 0.0
    score: float = 0.0
    features: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> CandidateKey:
        """Identity of the chunk inside the unit."""
        return (self.hit.document_id, self.hit.chunk.ordinal)


def chunk_texts(hit: ScoredChunk) -> list[str]:
    """Every text of a hit that counts as matching it: title, number, path, FAQ question, body."""
    return [
        hit.metadata.title,
        hit.metadata.number,
        hit.chunk.path,
        hit.chunk.question,
        hit.chunk.text,
    ]


class HybridSearcher:
    """Retrieves, fuses and reranks one unit's chunks for a query."""

    def __init__(self, store: VectorStore, embedder: Embedder | None, settings: SearchSettings) -> None:
        self._store = store
        self._embedder = embedder
        self._settings = settings

    def embed(self, query: SearchQuery) -> tuple[float, ...] | None:
        """The query's dense vector (None without an embedder); compute once, search many times."""
        if self._embedder is None or not query.dense_text.strip():
            return None
        return self._embedder.embed_query(query.dense_text)

    def candidates(
        self,
        unit: str,
        query: SearchQuery,
        *,
        dense_vector: Sequence[float] | None = None,
        kind: ChunkKind | None = None,
    ) -> list[Candidate]:
        """Fused, reranked candidates of the unit, best first (`dense_vector` from `embed`)."""
        settings = self._settings
        by_key: dict[CandidateKey, Candidate] = {}
        sparse_vector = weighted_query_sparse_vector(query.sparse_parts)
        if sparse_vector.indices:
            hits = self._store.search_sparse(unit, sparse_vector, limit=settings.sparse_limit, kind=kind)
            for rank, hit in enumerate(hits, start=1):
                candidate = by_key.setdefault((hit.document_id, hit.chunk.ordinal), Candidate(hit))
                candidate.sparse_rank = rank
                candidate.sparse_score = hit.score
                candidate.fused += settings.sparse_weight / (settings.rrf_k + rank)
        if dense_vector is not None:
            hits = self._store.search_dense(unit, dense_vector, limit=settings.dense_limit, kind=kind)
            for rank, hit in enumerate(hits, start=1):
                candidate = by_key.setdefault((hit.document_id, hit.chunk.ordinal), Candidate(hit))
                candidate.dense_rank = rank
                candidate.dense_score = hit.score
                candidate.fused += settings.dense_weight / (settings.rrf_k + rank)
        ranked = sorted(by_key.values(), key=lambda c: c.fused, reverse=True)
        top_sparse = max((c.sparse_score for c in ranked), default=0.0) or 1.0
        top_dense = max((c.dense_score for c in ranked), default=0.0)
        ceiling = query.terms.max_idf or 1.0
        for candidate in ranked[: settings.rerank_depth]:
            hit = candidate.hit
            found = coverage(query.terms, text_terms(chunk_texts(hit)))
            titled = coverage(
                query.terms, text_terms([hit.metadata.title, hit.chunk.path, hit.chunk.question])
            )
            candidate.features = {
                "rrf_sparse": 1.0 / (settings.rrf_k + candidate.sparse_rank)
                if candidate.sparse_rank
                else 0.0,
                "rrf_dense": 1.0 / (settings.rrf_k + candidate.dense_rank) if candidate.dense_rank else 0.0,
                "sparse_relative": candidate.sparse_score / top_sparse,
                "dense_gap": (candidate.dense_score - top_dense) if candidate.dense_rank else -1.0,
                "coverage": found.unigram,
                "bigram_coverage": found.bigram,
                "special_coverage": found.special,
                "missing_max_idf": min(found.missing_max_idf / ceiling, 1.0),
                "title_coverage": titled.unigram,
                "title_bigram_coverage": titled.bigram,
                "log_length": math.log1p(len(hit.chunk.text)) / LOG_LENGTH_SCALE,
                "is_faq": 1.0 if hit.chunk.kind is ChunkKind.FAQ else 0.0,
                "dense_score": candidate.dense_score,
            }
            if settings.reranker is not None:
                # Only the reranker reads these, and splitting 30 chunks into sentences doubled
                # the lexical ask (uit p50 3.3 → 6.8 ms) when nothing used them.
                candidate.features.update(_best_sentence(query.terms, hit))
            candidate.score = (
                settings.reranker.score(candidate.features) if settings.reranker else candidate.fused
            )
        floor = min((c.score for c in ranked[: settings.rerank_depth]), default=0.0)
        for candidate in ranked[settings.rerank_depth :]:
            candidate.score = floor - 1.0
        ranked.sort(key=lambda c: c.score, reverse=True)
        return ranked


def _best_sentence(terms: QuestionTerms, hit: ScoredChunk) -> dict[str, float]:
    """Coverage of the question by the chunk's best single sentence (title and path count too):
    a proximity signal, since a passage that answers usually says it in one sentence."""
    heading = text_terms([hit.metadata.title, hit.chunk.path, hit.chunk.question])
    best_unigram = best_bigram = 0.0
    for sentence in split_sentences(hit.chunk.text):
        found = sentence_coverage(terms, sentence.text, heading)
        if found.unigram + found.bigram > best_unigram + best_bigram:
            best_unigram, best_bigram = found.unigram, found.bigram
    return {"sentence_coverage": best_unigram, "sentence_bigram_coverage": best_bigram}


def as_scored(candidates: Sequence[Candidate], limit: int) -> list[ScoredChunk]:
    """Candidates as `ScoredChunk`s carrying the final (reranked) score."""
    return [
        ScoredChunk(
            document_id=c.hit.document_id,
            version=c.hit.version,
            chunk=c.hit.chunk,
            metadata=c.hit.metadata,
            score=c.score,
        )
        for c in candidates[:limit]
    ]


def dense_passage_text(chunk: Chunk, metadata: DocumentMetadata) -> str:
    """The text a chunk's dense vector is computed from: title, path, FAQ question(s), body.

    Index-time and eval code must use this one function, so cached vectors stay valid.
    """
    parts = (metadata.title, chunk.path, chunk.question, chunk.text)
    return "\n".join(part for part in parts if part)


__all__ = [
    "HYBRID_RERANKER",
    "Candidate",
    "HybridSearcher",
    "SearchQuery",
    "SearchSettings",
    "as_scored",
    "chunk_texts",
    "dense_passage_text",
]
