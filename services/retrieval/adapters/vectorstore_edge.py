"""`VectorStore` on Qdrant Edge: Qdrant's engine in-process, one shard per unit under `root/<unit>/`.

Also home of the point schema both vector-store adapters share (`point_id`, `chunk_payload`,
`scored_chunk_from_payload`, the vector names), so that a unit's index can move between Edge and a
Qdrant server point for point.

Findings with qdrant-edge-py 0.9.0 that shaped this module (measured, see the contract tests and
`scripts/measure_vectorstore.py`):

- A point may carry only some of its named vectors: chunks indexed without an embedder have no
  "dense" vector, are found by sparse search and are simply absent from dense results.
- Every call (query, update, optimize) holds the GIL while it runs. Concurrent calls from the gRPC
  thread pool are safe (no errors under concurrent reads and writes) but do not run in parallel.
- `EdgeShard.close()` writes some files by path (segment.json, id tracker, WAL index). Files replaced
  under an open shard are therefore partly overwritten by its close: a unit's files may only be
  swapped while its shard is closed, which `reload_unit(unit, replacement=...)` does.
- Deleted points keep counting in the sparse IDF statistics until a vacuum rewrites their segment:
  re-indexing one document 30 times (delete, then upsert) took a rare term's IDF from 2.69 to 0.50.
  Sparse searches therefore compute IDF over an explicit corpus, the unit's live points (a filter
  on the indexed `unit` field), which costs about 0.1 ms at 10k points.
- Each shard starts its own search thread pool, sized by the CPU count unless told otherwise
  (8 threads per shard on a 2-core machine); `search_threads` keeps 34 units from owning hundreds.
- A shard preallocates its files: about 165 MB on disk even for a handful of points (two 32 MB WAL
  files, 32 MB pages for dense vectors, sparse vectors and payloads), mostly zeros that compress well.
- With HNSW indexing disabled (`indexing_threshold=0`) dense search is exact brute force: about
  0.5 ms at 5k points and 1.3 ms at 20k (384 dimensions), and `optimize()` only vacuums deleted
  points and merges segments (0.5 s at 20k). With HNSW enabled, `optimize()` at 20k points blocked
  the interpreter for 10 s and gave a recall@10 of 0.5 on random vectors, so it stays disabled.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import qdrant_edge as edge

from services.retrieval.domain.model import (
    Chunk,
    ChunkKind,
    DocumentMetadata,
    ScoredChunk,
    SparseVector,
    StoredChunk,
)
from trolyao.logs import get_logger

log = get_logger(__name__)

UNIT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DENSE_VECTOR = "dense"
SPARSE_VECTOR = "lexical"
# Payload fields with a keyword index: delete/count by document, kind filters, and the IDF corpus.
INDEXED_KEYWORD_FIELDS = ("unit", "document_id", "kind")
# Point ids are uuid5(POINT_ID_NAMESPACE, StoredChunk.point_key): stable across stores and restarts.
POINT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "trolyao.vectorstore")

SCROLL_PAGE_SIZE = 256
UPSERT_BATCH_SIZE = 256
DEFAULT_SEARCH_THREADS = 1
# 0 disables HNSW building: dense search stays exact, and optimize() stays cheap (see module doc).
DENSE_INDEXING_THRESHOLD_KB = 0


class VectorStoreError(RuntimeError):
    """A unit's index cannot be opened or does not match this store's configuration."""


def validate_unit(unit: str) -> str:
    """Return `unit` if it is a valid unit id (it names a directory or a collection), else raise."""
    if not UNIT_ID_PATTERN.fullmatch(unit):
        raise ValueError(f"invalid unit id {unit!r}: expected {UNIT_ID_PATTERN.pattern}")
    return unit


def point_id(chunk: StoredChunk) -> str:
    """The point id of a chunk: a uuid5 of its point key, the same in every store."""
    return str(uuid.uuid5(POINT_ID_NAMESPACE, chunk.point_key))


def chunk_payload(chunk: StoredChunk) -> dict[str, Any]:
    """The payload stored with a chunk; `scored_chunk_from_payload` reads it back unchanged."""
    return {
        "unit": chunk.unit,
        "document_id": chunk.document_id,
        "version": chunk.version,
        "ordinal": chunk.chunk.ordinal,
        "text": chunk.chunk.text,
        "path": chunk.chunk.path,
        "kind": chunk.chunk.kind.value,
        "question": chunk.chunk.question,
        "extra": dict(chunk.chunk.extra),
        "metadata": {name: getattr(chunk.metadata, name) for name in DocumentMetadata.__dataclass_fields__},
    }


def scored_chunk_from_payload(payload: Mapping[str, Any], score: float) -> ScoredChunk:
    """Rebuild a search hit from a stored payload (unknown metadata fields are ignored)."""
    metadata: Mapping[str, Any] = payload.get("metadata") or {}
    extra: Mapping[str, Any] = payload.get("extra") or {}
    return ScoredChunk(
        document_id=str(payload["document_id"]),
        version=int(payload["version"]),
        chunk=Chunk(
            ordinal=int(payload["ordinal"]),
            text=str(payload["text"]),
            path=str(payload.get("path", "")),
            kind=ChunkKind(payload.get("kind", ChunkKind.PASSAGE.value)),
            question=str(payload.get("question", "")),
            extra={str(key): str(value) for key, value in extra.items()},
        ),
        metadata=DocumentMetadata(
            **{
                name: str(metadata[name])
                for name in DocumentMetadata.__dataclass_fields__
                if name in metadata
            }
        ),
        score=float(score),
    )


def validate_chunks(unit: str, chunks: Sequence[StoredChunk], *, dense_dimension: int) -> None:
    """Refuse chunks of another unit, dense vectors of the wrong size and malformed sparse vectors."""
    for chunk in chunks:
        if chunk.unit != unit:
            raise ValueError(f"chunk {chunk.point_key!r} belongs to unit {chunk.unit!r}, not {unit!r}")
        if chunk.dense is not None and len(chunk.dense) != dense_dimension:
            raise ValueError(
                f"chunk {chunk.point_key!r} has a dense vector of {len(chunk.dense)} dimensions,"
                f" the store expects {dense_dimension}"
            )
        if len(chunk.sparse.indices) != len(chunk.sparse.values):
            raise ValueError(f"chunk {chunk.point_key!r} has a sparse vector of unequal lengths")


def validate_dense_query(vector: Sequence[float], *, dense_dimension: int) -> None:
    """Refuse a dense query vector of the wrong size."""
    if len(vector) != dense_dimension:
        raise ValueError(f"dense query has {len(vector)} dimensions, the store expects {dense_dimension}")


class _SharedExclusiveLock:
    """Many holders share it, or one holds it alone; a waiting exclusive holder goes first."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._sharers = 0
        self._exclusive = False
        self._waiting_exclusive = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._condition:
            while self._exclusive or self._waiting_exclusive:
                self._condition.wait()
            self._sharers += 1
        try:
            yield
        finally:
            with self._condition:
                self._sharers -= 1
                if not self._sharers:
                    self._condition.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._condition:
            self._waiting_exclusive += 1
            try:
                while self._exclusive or self._sharers:
                    self._condition.wait()
            finally:
                self._waiting_exclusive -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._condition:
                self._exclusive = False
                self._condition.notify_all()


@dataclass(eq=False)
class _UnitIndex:
    """One unit's shard and its locks.

    Lock order: `write_gate` before `handle`. Writers (and pauses, reloads, drops) serialise on
    `write_gate`; every use of `shard` holds `handle` shared, and replacing or closing `shard`
    holds it exclusively. Reads never touch `write_gate`, so they go on while writes are paused.
    """

    path: Path
    shard: edge.EdgeShard | None = None
    write_gate: threading.RLock = field(default_factory=threading.RLock)
    handle: _SharedExclusiveLock = field(default_factory=_SharedExclusiveLock)


class EdgeVectorStore:
    """Qdrant Edge shards, one per unit, under `root/<unit>/`.

    Each shard has a cosine dense vector "dense" of `dense_dimension` and a sparse vector "lexical"
    with the IDF modifier, so IDF statistics are the unit's own. Shards found under `root` are opened
    at start (those this process `owns`); a unit's shard is created on its first write. Only one
    process may open a unit's shard.
    Thread-safe: searches run alongside writes, and writes to one unit are serialised.
    """

    def __init__(
        self,
        root: Path,
        *,
        dense_dimension: int,
        search_threads: int = DEFAULT_SEARCH_THREADS,
        owns: Callable[[str], bool] | None = None,
    ) -> None:
        """`owns` says which units' shards this process serves (unit ownership per retrieval worker,
        trolyao/routing.py): the others found under `root` stay closed, so their owner can open them."""
        if dense_dimension <= 0:
            raise ValueError(f"dense_dimension must be positive, got {dense_dimension}")
        self._root = Path(root)
        self._dense_dimension = dense_dimension
        self._search_threads = search_threads
        self._registry_lock = threading.Lock()
        self._units: dict[str, _UnitIndex] = {}
        self._closed = False
        self._root.mkdir(parents=True, exist_ok=True)
        for entry in sorted(self._root.iterdir()):
            if (
                entry.is_dir()
                and UNIT_ID_PATTERN.fullmatch(entry.name)
                and (owns is None or owns(entry.name))
                and any(entry.iterdir())
            ):
                index = _UnitIndex(path=entry)
                index.shard = self._open_shard(entry.name, entry)
                self._units[entry.name] = index
        log.info("edge_vector_store_opened", root=str(self._root), units=len(self._units))

    # --- the VectorStore port -------------------------------------------------------------------

    def upsert_chunks(self, unit: str, chunks: Sequence[StoredChunk]) -> None:
        """Insert or overwrite chunks (a chunk's identity: unit, document id, ordinal)."""
        validate_chunks(validate_unit(unit), chunks, dense_dimension=self._dense_dimension)
        if not chunks:
            return
        index = self._index_for_write(unit)
        points = [self._point(chunk) for chunk in chunks]
        with index.write_gate:
            self._check_open()
            shard = self._ensure_shard(unit, index)
            with index.handle.shared():
                for start in range(0, len(points), UPSERT_BATCH_SIZE):
                    batch = points[start : start + UPSERT_BATCH_SIZE]
                    shard.update(edge.UpdateOperation.upsert_points(batch))

    def delete_document(self, unit: str, document_id: str) -> None:
        """Remove every chunk of the document; a no-op when there is none."""
        index = self._existing_index(unit)
        if index is None:
            return
        with index.write_gate, index.handle.shared():
            if index.shard is not None:
                index.shard.update(
                    edge.UpdateOperation.delete_points_by_filter(_match("document_id", document_id))
                )

    def search_sparse(
        self, unit: str, vector: SparseVector, *, limit: int, kind: ChunkKind | None = None
    ) -> list[ScoredChunk]:
        """Best chunks by sparse dot product with IDF weighting, highest score first."""
        if not vector.indices or limit <= 0:
            validate_unit(unit)
            return []
        query = edge.Query.Nearest(
            edge.SparseVector(list(vector.indices), list(vector.values)), using=SPARSE_VECTOR
        )
        live_points_idf = edge.SearchParams(idf=edge.IdfParams(corpus=_match("unit", unit)))
        return self._search(unit, query, limit=limit, kind=kind, params=live_points_idf)

    def search_dense(
        self, unit: str, vector: Sequence[float], *, limit: int, kind: ChunkKind | None = None
    ) -> list[ScoredChunk]:
        """Best chunks by cosine similarity of the dense vectors, highest first."""
        validate_dense_query(vector, dense_dimension=self._dense_dimension)
        if limit <= 0:
            validate_unit(unit)
            return []
        query = edge.Query.Nearest([float(value) for value in vector], using=DENSE_VECTOR)
        return self._search(unit, query, limit=limit, kind=kind)

    def document_chunks(self, unit: str, document_id: str) -> list[ScoredChunk]:
        """All chunks of one document in ordinal order (score 0)."""
        index = self._existing_index(unit)
        if index is None:
            return []
        hits: list[ScoredChunk] = []
        with index.handle.shared():
            if index.shard is None:
                return []
            offset: edge.PointId | None = None
            while True:
                records, offset = index.shard.scroll(
                    edge.ScrollRequest(
                        offset=offset,
                        limit=SCROLL_PAGE_SIZE,
                        filter=_match("document_id", document_id),
                        with_payload=True,
                        with_vector=False,
                    )
                )
                hits.extend(scored_chunk_from_payload(record.payload or {}, 0.0) for record in records)
                if offset is None:
                    break
        return sorted(hits, key=lambda hit: hit.chunk.ordinal)

    def count(self, unit: str, document_id: str | None = None) -> int:
        """Number of chunks of the unit, or of one of its documents."""
        index = self._existing_index(unit)
        if index is None:
            return 0
        condition = None if document_id is None else _match("document_id", document_id)
        with index.handle.shared():
            if index.shard is None:
                return 0
            return index.shard.count(edge.CountRequest(exact=True, filter=condition))

    def units(self) -> list[str]:
        """Units that have an index."""
        self._check_open()
        with self._registry_lock:
            return sorted(unit for unit, index in self._units.items() if index.shard is not None)

    def drop_unit(self, unit: str) -> None:
        """Remove the unit's whole index: its shard and its directory."""
        index = self._existing_index(unit)
        if index is None:
            return
        with index.write_gate, index.handle.exclusive():
            if index.shard is not None:
                index.shard.close()
                index.shard = None
            shutil.rmtree(index.path, ignore_errors=True)
        log.info("unit_index_dropped", unit=unit)

    def flush(self) -> None:
        """Make every acknowledged write durable.

        Every unit is tried even when one fails (e.g. its files were deleted under the running
        shard): one damaged unit must not keep the other units' writes from disk. The first error
        is raised once all were tried.
        """
        self._check_open()
        failed: list[tuple[str, Exception]] = []
        for index in self._snapshot_of_units():
            with index.handle.shared():
                if index.shard is not None:
                    try:
                        index.shard.flush()
                    except Exception as error:
                        log.warning("unit_index_flush_failed", unit=index.path.name, error=str(error))
                        failed.append((index.path.name, error))
        if failed:
            failed_unit, first_error = failed[0]
            message = f"cannot flush the index of unit {failed_unit!r}: {first_error}"
            raise VectorStoreError(message) from first_error

    def close(self) -> None:
        """Flush and close every shard; the store cannot be used afterwards."""
        with self._registry_lock:
            if self._closed:
                return
            self._closed = True
            indexes = list(self._units.values())
        for index in indexes:
            with index.write_gate, index.handle.exclusive():
                if index.shard is not None:
                    index.shard.flush()
                    index.shard.close()
                    index.shard = None
        log.info("edge_vector_store_closed", root=str(self._root))

    # --- snapshots and maintenance --------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The directory holding every unit's shard (stage restores under it: same file system)."""
        return self._root

    def unit_path(self, unit: str) -> Path:
        """The directory holding the unit's shard (it may not exist yet)."""
        return self._root / validate_unit(unit)

    @contextmanager
    def writes_paused(self, unit: str) -> Iterator[Path]:
        """Flush the unit's shard and hold back its writes until the block ends; yield its directory.

        Searches go on meanwhile. While the block runs the directory's files do not change, so they
        can be copied as a consistent snapshot (the directory does not exist if the unit has no
        index). Writes to the unit wait; other units are not affected. Re-entrant in one thread,
        so `reload_unit` may be called inside the block.
        """
        index = self._index_for_write(unit)
        with index.write_gate:
            with index.handle.shared():
                if index.shard is not None:
                    index.shard.flush()
            yield index.path

    def reload_unit(self, unit: str, *, replacement: Path | None = None) -> None:
        """Close the unit's shard and open it again from disk, optionally from new files.

        With `replacement` (a directory on the same file system as the store's root, e.g. a restored
        snapshot unpacked under `root/.restore-<unit>/`): the shard is closed first, then the unit's
        directory is swapped for `replacement` and the old one removed (after the unit's locks are
        released: deleting preallocated files is slower than opening a shard). Files must never be replaced
        under an open shard, because closing it rewrites some of them (see the module doc). If the
        replacement cannot be opened, the previous files are put back and reopened, and the error
        is raised. Searches and writes to the unit wait until the reload is done.
        """
        index = self._index_for_write(unit)
        previous = index.path.with_name(f".previous-{unit}-{uuid.uuid4().hex}")
        with index.write_gate, index.handle.exclusive():
            self._check_open()
            if index.shard is not None:
                try:
                    index.shard.flush()  # the previous files come back if the new ones fail
                    index.shard.close()
                except Exception as error:
                    if replacement is None:
                        raise
                    # The files being replaced are damaged or gone (a restore after an incident):
                    # drop the old shard and go on with the replacement.
                    log.warning("unit_index_close_failed", unit=unit, error=str(error))
                index.shard = None
            if replacement is None:
                index.shard = self._open_if_present(unit, index.path)
                log.info("unit_index_reloaded", unit=unit)
                return
            had_previous = index.path.exists()
            if had_previous:
                os.replace(index.path, previous)
            os.replace(replacement, index.path)
            try:
                index.shard = self._open_if_present(unit, index.path)
            except Exception:
                os.replace(index.path, replacement)
                if had_previous:
                    os.replace(previous, index.path)
                index.shard = self._open_if_present(unit, index.path)
                raise
        # Outside the unit's locks: deleting the preallocated files takes longer than opening a shard.
        shutil.rmtree(previous, ignore_errors=True)
        log.info("unit_index_replaced", unit=unit)

    def optimize(self, unit: str) -> bool:
        """Vacuum deleted points and merge segments of the unit's shard; True if anything changed.

        Not called automatically: qdrant-edge holds the interpreter while it runs (about 0.5 s per
        20k points here), so call it from maintenance (after a bulk import or a restore, or when
        many documents were re-indexed), not on the request path. Writes to the unit wait.
        """
        index = self._existing_index(unit)
        if index is None:
            return False
        with index.write_gate, index.handle.shared():
            if index.shard is None:
                return False
            changed = index.shard.optimize()
        log.info("unit_index_optimized", unit=unit, changed=changed)
        return changed

    # --- internals ------------------------------------------------------------------------------

    def _search(
        self,
        unit: str,
        query: edge.Query,
        *,
        limit: int,
        kind: ChunkKind | None,
        params: edge.SearchParams | None = None,
    ) -> list[ScoredChunk]:
        index = self._existing_index(unit)
        if index is None:
            return []
        request = edge.QueryRequest(
            limit=limit,
            query=query,
            filter=None if kind is None else _match("kind", kind.value),
            params=params,
            with_payload=True,
            with_vector=False,
        )
        with index.handle.shared():
            if index.shard is None:
                return []
            points = index.shard.query(request)
        return [scored_chunk_from_payload(point.payload or {}, point.score) for point in points]

    def _point(self, chunk: StoredChunk) -> edge.Point:
        vectors: dict[str, edge.NamedVector] = {
            SPARSE_VECTOR: edge.SparseVector(list(chunk.sparse.indices), list(chunk.sparse.values))
        }
        if chunk.dense is not None:
            vectors[DENSE_VECTOR] = [float(value) for value in chunk.dense]
        return edge.Point(point_id(chunk), vectors, chunk_payload(chunk))

    def _config(self) -> edge.EdgeConfig:
        return edge.EdgeConfig(
            vectors={
                DENSE_VECTOR: edge.EdgeVectorParams(size=self._dense_dimension, distance=edge.Distance.Cosine)
            },
            sparse_vectors={SPARSE_VECTOR: edge.EdgeSparseVectorParams(modifier=edge.Modifier.Idf)},
            optimizers=edge.EdgeOptimizersConfig(indexing_threshold=DENSE_INDEXING_THRESHOLD_KB),
            max_search_threads=self._search_threads,
        )

    def _open_shard(self, unit: str, path: Path) -> edge.EdgeShard:
        try:
            shard = edge.EdgeShard.load(str(path), self._config())
        except Exception as exc:
            raise VectorStoreError(f"cannot open the index of unit {unit!r} at {path}: {exc}") from exc
        _create_missing_payload_indexes(shard)
        return shard

    def _open_if_present(self, unit: str, path: Path) -> edge.EdgeShard | None:
        if path.is_dir() and any(path.iterdir()):
            return self._open_shard(unit, path)
        return None

    def _ensure_shard(self, unit: str, index: _UnitIndex) -> edge.EdgeShard:
        """The unit's shard, created on first use; the caller holds `index.write_gate`."""
        if index.shard is not None:
            return index.shard
        with index.handle.exclusive():
            shard = edge.EdgeShard.create(str(index.path), self._config())
            _create_missing_payload_indexes(shard)
            index.shard = shard
        log.info("unit_index_created", unit=unit, path=str(index.path))
        return shard

    def _existing_index(self, unit: str) -> _UnitIndex | None:
        validate_unit(unit)
        with self._registry_lock:
            self._check_open()
            return self._units.get(unit)

    def _index_for_write(self, unit: str) -> _UnitIndex:
        validate_unit(unit)
        with self._registry_lock:
            self._check_open()
            index = self._units.get(unit)
            if index is None:
                index = self._units[unit] = _UnitIndex(path=self._root / unit)
            return index

    def _snapshot_of_units(self) -> list[_UnitIndex]:
        with self._registry_lock:
            return list(self._units.values())

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the vector store is closed")


def _create_missing_payload_indexes(shard: edge.EdgeShard) -> None:
    existing = shard.info().payload_schema
    for name in INDEXED_KEYWORD_FIELDS:
        if name not in existing:
            shard.update(edge.UpdateOperation.create_field_index(name, edge.PayloadSchemaType.Keyword))


def _match(key: str, value: str) -> edge.Filter:
    return edge.Filter(must=[edge.FieldCondition(key=key, match=edge.MatchValue(value))])
