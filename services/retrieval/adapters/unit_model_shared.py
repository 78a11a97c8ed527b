"""Unit language models of a retrieval replica, recounted from the shared index when it moved.

A unit's language model (corpus statistics for IDF features and diacritic restoration) is derived
from the unit's chunks. One retrieval process keeps it in step incrementally as it indexes
(`AnswerEngine.on_document_changed`) and in a file (`unit_model_files`). Replicas sharing a Qdrant
server each apply only part of the changes, so each would count a different model and answer the
same question differently. Here a replica's model is a cache of the shared index instead: the
shared registry's per-unit generation moves at every applied change, and a model whose generation
is behind is recounted from the index (its documents in id order, their chunks in order: the same
counts, in the same order, on every replica), in the background. The generation is read at most
once per `check_seconds` per unit, so a replica answers from a model up to that long plus one
recount behind the index (longer while NATS cannot be read: asks go on with the model they have);
no file is written (a restarted replica recounts).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from services.retrieval.domain.answering import ChunkLike, model_texts
from services.retrieval.domain.ports import DocumentRegistry, VectorStore
from services.retrieval.domain.unit_model import UnitLanguageModel
from trolyao.logs import get_logger

log = get_logger("retrieval")

DEFAULT_CHECK_SECONDS = 1.0


class UnitGenerations(Protocol):
    """A number per unit that moves whenever the unit's index changes (the shared registry)."""

    def generation(self, unit: str) -> int: ...


class SharedIndexUnitModels:
    """`UnitModelRepository` of a replica: models in memory, recounted when the unit moved.

    A unit's first model is counted before it is used; later recounts run on one background thread
    (one unit at a time) and replace the model when done, so an ask never waits for one: until then
    it answers from the previous model.
    """

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
        self._models: dict[str, UnitLanguageModel] = {}
        self._counted: dict[str, int] = {}
        self._checked: dict[str, float] = {}
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._recounts = ThreadPoolExecutor(max_workers=1, thread_name_prefix="unit-model-recount")

    def get(self, unit: str) -> UnitLanguageModel:
        """The unit's model; a recount is started if the shared index moved since it was counted."""
        with self._lock:
            model = self._models.get(unit)
            now = time.monotonic()
            due = now - self._checked.get(unit, float("-inf")) >= self._check_seconds
            if due:
                self._checked[unit] = now
        if model is None:
            return self._recount(unit)
        if due:
            try:
                moved = self._generations.generation(unit) != self._counted.get(unit)
            except Exception as error:  # NATS unreachable: answer from the model we have
                log.warning("unit_model_refresh_failed", unit=unit, error=str(error))
                return model
            if moved:
                self._schedule(unit)
        return model

    def _schedule(self, unit: str) -> None:
        with self._lock:
            if unit in self._pending:
                return
            self._pending.add(unit)
        self._recounts.submit(self._recount_in_background, unit)

    def _recount_in_background(self, unit: str) -> None:
        try:
            self._recount(unit)
        except Exception as error:  # the next check tries again
            log.warning("unit_model_refresh_failed", unit=unit, error=str(error))
        finally:
            with self._lock:
                self._pending.discard(unit)

    def _recount(self, unit: str) -> UnitLanguageModel:
        """Count the unit's model from the shared index and install it unless a newer one is."""
        started = time.perf_counter()
        generation = self._generations.generation(unit)
        model = UnitLanguageModel()
        model.add(model_texts(chunk) for chunk in self._chunks(unit))
        with self._lock:
            if generation >= self._counted.get(unit, -1) or unit not in self._models:
                self._models[unit] = model
                self._counted[unit] = generation
            current = self._models[unit]
        log.info(
            "unit_model_recounted",
            unit=unit,
            generation=generation,
            chunks=model.chunk_count,
            seconds=round(time.perf_counter() - started, 3),
        )
        return current

    def _chunks(self, unit: str) -> Iterator[ChunkLike]:
        for record in self._registry.list(unit):
            yield from self._store.document_chunks(unit, record.document_id)

    def changed(self, unit: str) -> None:
        """Nothing to persist: the shared index is the model's source."""

    def drop(self, unit: str) -> None:
        """Forget the model: the caller recounts it now (`AnswerEngine.rebuild_unit_model` gets an
        empty model and adds every chunk), so it counts as current."""
        generation = self._generations.generation(unit)
        with self._lock:
            self._models[unit] = UnitLanguageModel()
            self._counted[unit] = generation
            self._checked[unit] = time.monotonic()

    def flush(self) -> None:
        """Nothing to persist."""


__all__ = ["SharedIndexUnitModels", "UnitGenerations"]
