"""The embedding cache is shared by every retrieval worker of a stack (one SQLite file under
data/retrieval/embed-cache): processes writing and reading it at once lose nothing and never fail."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from services.retrieval.adapters.embedding_cache import EmbeddingCache, cache_key

pytestmark = pytest.mark.timeout(120)

WRITERS = 3
BATCHES = 40
BATCH = 25
DIMENSION = 8


def vector(writer: int, index: int) -> tuple[float, ...]:
    return tuple(float(writer * 10_000 + index + offset) for offset in range(DIMENSION))


def write_and_read(directory: str, writer: int) -> int:
    """Store batches (half the keys shared with the other writers), reading each back at once."""
    cache = EmbeddingCache(directory)
    try:
        for batch in range(BATCHES):
            items = []
            for offset in range(BATCH):
                index = batch * BATCH + offset
                shared = index % 2 == 0
                key = cache_key("m", "passage", f"shared-{index}" if shared else f"own-{writer}-{index}")
                items.append((key, vector(0 if shared else writer, index)))
            cache.put_many(items)
            found = cache.get_many([key for key, _ in items])
            assert len(found) == len(items)
        return writer
    finally:
        cache.close()


def test_processes_share_the_cache_without_losing_a_vector(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(WRITERS) as pool:
        done = pool.starmap(write_and_read, [(str(tmp_path), writer) for writer in range(1, WRITERS + 1)])
    assert sorted(done) == list(range(1, WRITERS + 1))
    cache = EmbeddingCache(tmp_path)
    try:
        for writer in range(1, WRITERS + 1):
            for index in range(BATCHES * BATCH):
                shared = index % 2 == 0
                key = cache_key("m", "passage", f"shared-{index}" if shared else f"own-{writer}-{index}")
                stored = cache.get_many([key])[key]
                assert stored == pytest.approx(vector(0 if shared else writer, index))
    finally:
        cache.close()
