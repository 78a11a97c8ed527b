"""Measure the Edge vector store: upsert throughput and search latency on random chunks.

    .venv/bin/python scripts/measure_vectorstore.py [--sizes 1000 10000] [--queries 200] [--optimize]

Chunks carry ~800 characters of text, a 384-dimension dense vector (normalised Gaussian noise) and a
sparse vector of ~60 Zipf-distributed term ids; queries have ~8 terms. "hybrid" is what the search
service does per question: one sparse and one dense search of 50 hits each, fused by reciprocal rank
in Python. Latencies are wall-clock per call, single-threaded. Random vectors are the worst case for
any dense index and say nothing about answer quality; they only bound the cost.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from services.retrieval.adapters.vectorstore_edge import EdgeVectorStore
from services.retrieval.domain.model import Chunk, DocumentMetadata, ScoredChunk, SparseVector, StoredChunk

UNIT = "do-do"
DENSE_DIMENSION = 384
VOCABULARY = 30_000
TERMS_PER_CHUNK = 60
TERMS_PER_QUERY = 8
CHUNKS_PER_DOCUMENT = 20
UPSERT_BATCH = CHUNKS_PER_DOCUMENT
SEARCH_LIMIT = 50
RRF_K = 2.0
TEXT = "Điều 5. Hồ sơ đăng ký doanh nghiệp gồm giấy đề nghị, điều lệ và danh sách thành viên. " * 9


def random_sparse(rng: np.random.Generator, terms: int) -> SparseVector:
    ids = np.unique(np.minimum(rng.zipf(1.3, size=terms), VOCABULARY))
    return SparseVector(
        indices=tuple(int(i) for i in ids), values=tuple(float(v) for v in rng.integers(1, 4, len(ids)))
    )


def random_dense(rng: np.random.Generator) -> tuple[float, ...]:
    vector = rng.standard_normal(DENSE_DIMENSION)
    return tuple(float(v) for v in vector / np.linalg.norm(vector))


def make_chunks(rng: np.random.Generator, count: int) -> list[StoredChunk]:
    return [
        StoredChunk(
            unit=UNIT,
            document_id=f"doc-{n // CHUNKS_PER_DOCUMENT}",
            version=1,
            chunk=Chunk(ordinal=n % CHUNKS_PER_DOCUMENT, text=TEXT, path="Chương II, Điều 5, Khoản 2"),
            metadata=DocumentMetadata(title="Nghị định 01/2021/NĐ-CP", number="01/2021/NĐ-CP"),
            sparse=random_sparse(rng, TERMS_PER_CHUNK),
            dense=random_dense(rng),
        )
        for n in range(count)
    ]


def hybrid(store: EdgeVectorStore, sparse: SparseVector, dense: tuple[float, ...]) -> list[str]:
    fused: dict[tuple[str, int], float] = {}
    for hits in (
        store.search_sparse(UNIT, sparse, limit=SEARCH_LIMIT),
        store.search_dense(UNIT, dense, limit=SEARCH_LIMIT),
    ):
        for rank, hit in enumerate(hits):
            key = (hit.document_id, hit.chunk.ordinal)
            fused[key] = fused.get(key, 0.0) + 1.0 / (RRF_K + rank)
    return [f"{key[0]}/{key[1]}" for key, _ in sorted(fused.items(), key=lambda item: -item[1])]


def latencies_ms(call: Callable[[int], object], count: int) -> tuple[float, float]:
    samples = []
    for n in range(count):
        start = time.perf_counter()
        call(n)
        samples.append((time.perf_counter() - start) * 1000)
    percentiles = statistics.quantiles(samples, n=20)
    return statistics.median(samples), percentiles[18]


def measure(size: int, *, queries: int, optimize: bool) -> None:
    rng = np.random.default_rng(size)
    chunks = make_chunks(rng, size)
    sparse_queries = [random_sparse(rng, TERMS_PER_QUERY) for _ in range(queries)]
    dense_queries = [random_dense(rng) for _ in range(queries)]
    with tempfile.TemporaryDirectory(prefix="measure-vectorstore-") as root:
        store = EdgeVectorStore(Path(root), dense_dimension=DENSE_DIMENSION)
        try:
            start = time.perf_counter()
            for offset in range(0, size, UPSERT_BATCH):
                store.upsert_chunks(UNIT, chunks[offset : offset + UPSERT_BATCH])
            store.flush()
            elapsed = time.perf_counter() - start
            print(
                f"{size:>6} points: upsert {size / elapsed:8.0f} chunks/s"
                f" ({elapsed:.2f} s, batches of {UPSERT_BATCH}, incl. flush)"
            )
            rounds = [("no optimize", False)] + ([("after optimize", True)] if optimize else [])
            for label, run_optimize in rounds:
                if run_optimize:
                    start = time.perf_counter()
                    store.optimize(UNIT)
                    print(f"{'':>6}         optimize {time.perf_counter() - start:.2f} s")
                report(label, store, sparse_queries, dense_queries, queries)
        finally:
            store.close()


def report(
    label: str,
    store: EdgeVectorStore,
    sparse_queries: list[SparseVector],
    dense_queries: list[tuple[float, ...]],
    queries: int,
) -> None:
    searches: dict[str, Callable[[int], list[ScoredChunk] | list[str]]] = {
        "sparse": lambda n: store.search_sparse(UNIT, sparse_queries[n], limit=SEARCH_LIMIT),
        "dense": lambda n: store.search_dense(UNIT, dense_queries[n], limit=SEARCH_LIMIT),
        "hybrid": lambda n: hybrid(store, sparse_queries[n], dense_queries[n]),
    }
    cells = []
    for name, call in searches.items():
        p50, p95 = latencies_ms(call, queries)
        cells.append(f"{name} p50 {p50:5.2f} / p95 {p95:5.2f} ms")
    print(f"{'':>6}  {label:>14}: " + "; ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--optimize", action="store_true", help="also measure after optimize()")
    arguments = parser.parse_args()
    print(f"Edge vector store, dense {DENSE_DIMENSION}-d cosine + sparse IDF, limit {SEARCH_LIMIT}")
    for size in arguments.sizes:
        measure(size, queries=arguments.queries, optimize=arguments.optimize)


if __name__ == "__main__":
    main()
