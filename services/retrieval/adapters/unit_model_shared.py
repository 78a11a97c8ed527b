"""Unit language models of a retrieval replica, recounted from the shared index when it moved.

A unit's language model (corpus statistics for IDF features and diacritic restoration) is derived
from the unit's chunks. One retrieval process keeps it in step incrementally as it indexes
(`AnswerEngine.on_document_changed`) and in a file (`unit_model_files`). Replicas sharing a Qdrant
server each apply only part of the changes, so each would count a different model and answer the
same question differently. Here a replica's model is a cache of the shared index instead: the
shared registry's per-unit generation moves at every applied change, and a model whose generation
is behind is recounted from the index (its documents in id order, their chunks in order: the same
counts, in the same order, on every replica) before it is used. The generation is read at most
once per `check_seconds` per unit, so a replica may answer from a model up to that old (or older
while NATS cannot be read: asks go on with the model it has); no file is written (a restarted
replica recounts).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Protocol

from services.retrieval.domain.answering import ChunkLike, model_texts
from services.retrieval.domain.ports import DocumentRegistry, VectorStore
from services.retrieval.domain.unit_model import InMemoryUnitModelRepository, UnitLanguageModel
from trolyao.logs import get_logger

log = get_logger("retrieval")

DEFAULT_CHECK_SECONDS = 1.0


class UnitGenerations(Protocol):
    """A number per unit that moves whenever the unit's index changes (the shared registry)."""

    def generation(self, unit: str) -> int: ...


class SharedIndexUnitModels:
    """`UnitModelRepository` of a replica: models in memory, recounted when the unit moved."""

    def __init__(
        self,
        *,
        store: VectorStore,
        registry: DocumentRegistry,
        generations: UnitGenerations,
        check_seconds: float = DEFAULT_CHECK_SECONDS,
    ) -> None:
        self._store = store
        self._registry = registry
        self._generations = generations
        self._check_seconds = check_seconds
        self._models = InMemoryUnitModelRepository()
        self._counted: dict[str, int] = {}
        self._checked: dict[str, float] = {}
        self._lock = threading.RLock()

    def get(self, unit: str) -> UnitLanguageModel:
        """The unit's model, recounted first if the shared index moved since it was counted."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked.get(unit, float("-inf")) >= self._check_seconds:
                self._checked[unit] = now
                try:
                    generation = self._generations.generation(unit)
                    if self._counted.get(unit) != generation:
                        self._recount(unit, generation)
                except Exception as error:  # NATS or the store unreachable: answer from the model we have
                    log.warning("unit_model_refresh_failed", unit=unit, error=str(error))
            return self._models.get(unit)

    def _recount(self, unit: str, generation: int) -> None:
        started = time.perf_counter()
        self._models.drop(unit)
        model = self._models.get(unit)
        model.add(model_texts(chunk) for chunk in self._chunks(unit))
        self._counted[unit] = generation
        log.info(
            "unit_model_recounted",
            unit=unit,
            generation=generation,
            chunks=model.chunk_count,
            seconds=round(time.perf_counter() - started, 3),
        )

    def _chunks(self, unit: str) -> Iterator[ChunkLike]:
        for record in self._registry.list(unit):
            yield from self._store.document_chunks(unit, record.document_id)

    def changed(self, unit: str) -> None:
        """Nothing to persist: the shared index is the model's source."""

    def drop(self, unit: str) -> None:
        """Forget the model: the caller recounts it now (`AnswerEngine.rebuild_unit_model`), so it
        counts as current."""
        with self._lock:
            self._models.drop(unit)
            self._counted[unit] = self._generations.generation(unit)
            self._checked[unit] = time.monotonic()

    def flush(self) -> None:
        """Nothing to persist."""


__all__ = ["SharedIndexUnitModels", "UnitGenerations"]
