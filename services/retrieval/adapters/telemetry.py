"""Retrieval's telemetry, wired by the composition root: spans for the answer and search steps,
and the vector-store size per unit as a metric.

The gRPC server span (from `trolyao.rpc`) is the parent; under it `answer` (or `search`) covers
the engine's work, and `vector_store.search_sparse` / `search_dense` / `embedder.embed_query`
the search steps inside it. Question text goes into a span only with `TROLYAO_TRACE_CONTENT=true`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from services.retrieval.domain.model import Answer, ScoredChunk
from services.retrieval.domain.ports import Embedder, VectorStore
from trolyao.telemetry import attributes as attr
from trolyao.telemetry import content_tracing_enabled
from trolyao.telemetry.component_tracing import OTHER, UNIT_FIRST, traced_component
from trolyao.telemetry.instruments import LABEL_UNIT, observe_values

TRACER_NAME = "trolyao.retrieval"
VECTOR_STORE_POINTS = "trolyao.vector_store.points"
SEARCH_METHODS = {"search_sparse": UNIT_FIRST, "search_dense": UNIT_FIRST}
EMBEDDER_METHODS = {"embed_query": OTHER, "embed_passages": OTHER}


class TracedAnswering:
    """The answer engine with a span around each ask and search; everything else is forwarded."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._tracer = trace.get_tracer(TRACER_NAME)

    def ask(
        self,
        unit: str,
        question: str,
        history: Sequence[tuple[str, str]] = (),
        *,
        abstain_below: float | None = None,
    ) -> Answer:
        """`engine.ask` in an `answer` span that records the outcome, never the text."""
        with self._tracer.start_as_current_span("answer", attributes={attr.UNIT: unit}) as span:
            if content_tracing_enabled():
                span.set_attribute(attr.QUESTION_TEXT, question)
            if abstain_below is not None:
                span.set_attribute(attr.ABSTAIN_BELOW, abstain_below)
            answer: Answer = self._engine.ask(unit, question, history, abstain_below=abstain_below)
            span.set_attribute(attr.ANSWERED, answer.answered)
            span.set_attribute(attr.ANSWER_SOURCE, answer.source)
            span.set_attribute(attr.ANSWER_CONFIDENCE, float(answer.confidence))
            span.set_attribute(attr.CITATION_COUNT, len(answer.citations))
            return answer

    def search(self, unit: str, query: str, *, limit: int) -> list[ScoredChunk]:
        """`engine.search` in a `search` span (unit, limit and number of hits)."""
        attributes: dict[str, AttributeValue] = {attr.UNIT: unit, attr.LIMIT: limit}
        with self._tracer.start_as_current_span("search", attributes=attributes) as span:
            if content_tracing_enabled():
                span.set_attribute(attr.QUESTION_TEXT, query)
            hits: list[ScoredChunk] = self._engine.search(unit, query, limit=limit)
            span.set_attribute(attr.RESULT_COUNT, len(hits))
            return hits

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


def traced_search_store(store: VectorStore) -> VectorStore:
    """The store as the answer engine sees it: its searches traced."""
    return traced_component(store, "vector_store", SEARCH_METHODS)


def traced_embedder(embedder: Embedder | None) -> Embedder | None:
    """The embedder with query and passage embedding traced (None stays None)."""
    if embedder is None:
        return None
    return traced_component(embedder, "embedder", EMBEDDER_METHODS)


def observe_vector_store_size(store: VectorStore) -> None:
    """Publish `trolyao.vector_store.points{unit}`: chunks indexed per unit, read at each collection."""

    def points_per_unit() -> list[tuple[float, dict[str, str]]]:
        return [(float(store.count(unit)), {LABEL_UNIT: unit}) for unit in store.units()]

    observe_values(
        VECTOR_STORE_POINTS,
        description="Chunks (points) in the vector store, per unit.",
        unit="{chunk}",
        read=points_per_unit,
    )
