"""The peer in the same run: Haystack's in-memory BM25 retrieval over the same documents and questions.

`make bench` puts, beside our ask latency, the latency of the retrieval call of a Haystack 2.x-line
pipeline (`haystack-ai`, the optional `bench` extra): per unit one `InMemoryDocumentStore` filled by
an indexing pipeline (`DocumentSplitter` by passage → `DocumentWriter`) with the documents placed in
that unit, and a query pipeline holding one `InMemoryBM25Retriever` (top 10) run in process for each
question, on that question's unit. It is a retrieval call only — no HTTP, no gRPC, no answer, no
citation — so the ratio says what our whole ask costs against a bare BM25 lookup of a well-known
framework. Without Haystack installed the peer is skipped and the report says so.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from typing import Any

PEER_TOP_K = 10
MILLISECONDS = 1000.0
MISSING = "Haystack peer skipped: haystack-ai is not installed (pip install -e '.[bench]')"


def haystack_installed() -> bool:
    """Whether `haystack-ai` can be imported here."""
    try:
        import haystack  # noqa: F401
    except ImportError:
        return False
    return True


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)


def measure_haystack(
    documents_by_unit: dict[str, list[tuple[str, str]]], questions: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """Index each unit's (document id, text) pairs, then time one BM25 retrieval per (unit, question).

    Returns `{"skipped": reason}` when Haystack is not installed."""
    if not haystack_installed():
        return {"skipped": MISSING}
    os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")  # no usage reports from a benchmark
    # The store logs a warning per skipped duplicate (below): one line per document, not news.
    logging.getLogger("haystack.document_stores.in_memory.document_store").setLevel(logging.ERROR)
    from importlib.metadata import version

    from haystack import Document, Pipeline
    from haystack.components.preprocessors import DocumentSplitter
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
    from haystack.components.writers import DocumentWriter
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack.document_stores.types import DuplicatePolicy

    started = time.perf_counter()
    retrievers: dict[str, Pipeline] = {}
    passages = 0
    for unit, documents in documents_by_unit.items():
        store = InMemoryDocumentStore()
        indexing = Pipeline()
        indexing.add_component("split", DocumentSplitter(split_by="passage", split_length=1))
        # A unit's stages may place the same document (same id, same text) again: our index upserts
        # it by id, so the peer keeps one copy too instead of refusing the whole batch.
        indexing.add_component("write", DocumentWriter(store, policy=DuplicatePolicy.SKIP))
        indexing.connect("split", "write")
        indexing.run(
            {
                "split": {
                    "documents": [Document(content=text, meta={"document_id": i}) for i, text in documents]
                }
            }
        )
        passages += store.count_documents()
        query = Pipeline()
        query.add_component("retriever", InMemoryBM25Retriever(store, top_k=PEER_TOP_K))
        retrievers[unit] = query
    index_seconds = time.perf_counter() - started
    latencies: list[float] = []
    for unit, question in questions:
        began = time.perf_counter()
        retrievers[unit].run({"retriever": {"query": question}})
        latencies.append((time.perf_counter() - began) * MILLISECONDS)
    return {
        "peer": f"haystack-ai {version('haystack-ai')} InMemoryBM25Retriever (top {PEER_TOP_K}), in process",
        "passages": passages,
        "index_seconds": round(index_seconds, 1),
        "questions": len(latencies),
        "p50_ms": _percentile(latencies, 0.5),
        "p95_ms": _percentile(latencies, 0.95),
    }


def ratio(ours_ms: float | None, peer: dict[str, Any]) -> float | None:
    """Our ask p50 over the peer's retrieval p50 (None when either is missing)."""
    if not ours_ms or not peer.get("p50_ms"):
        return None
    return round(ours_ms / float(peer["p50_ms"]), 2)


__all__ = ["MISSING", "haystack_installed", "measure_haystack", "ratio"]
