"""Export and import of one unit's index: the retrieval half of snapshots and restores.

Export takes a consistent cut. Under the Indexer's lock for the unit (so no document is half
applied) the unit's index is copied into a staging directory: with Qdrant Edge, the shard's files,
sparsely, while the store holds the unit's writes (searches go on); with a Qdrant server, its points
and vectors. The registry is copied with SQLite's backup API in the same cut, so the archive knows
the highest DOCS stream sequence it reflects. The lock is released before the slower compression.

The unit's language model is part of the cut too (`unit-model.json.gz`, written by the model
repository under the same lock), so it matches the shard and the registry exactly.

Import unpacks and checks the archive apart from the live index (size and sha256 of the bytes,
readable tar, right unit, same embedding model and dimension, a sound registry, a readable model
counting as many chunks as the archive holds). It unpacks under the store's root (Edge) or the
service's data root, on the same file system as the live files, so that installing is renames, not
copies. Only then, under the unit's lock, are the registry, the index and the model swapped: Edge
shards with `reload_unit`, which puts the previous files back if the new ones cannot be opened;
the model file by rename. Nothing is recounted — except for an archive that carries no model (made
before archive version 2, or by a retrieval without model files) or a damaged one: then the model
is recounted from the restored chunks, as before. Other units are never locked, so they keep
answering.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from services.retrieval.adapters.unit_archive import (
    EDGE_FILES_FORMAT,
    POINTS_FORMAT,
    POINTS_MEMBER,
    REGISTRY_MEMBER,
    SHARD_PREFIX,
    UNIT_MODEL_MEMBER,
    ArchiveInfo,
    ArchiveRejected,
    copy_tree_sparse,
    file_digest,
    read_archive,
    write_archive,
)
from services.retrieval.domain.indexing import Indexer
from services.retrieval.domain.model import (
    Chunk,
    ChunkKind,
    DocumentMetadata,
    DocumentRecord,
    ScoredChunk,
    SparseVector,
    StoredChunk,
)
from services.retrieval.domain.ports import VectorStore
from services.retrieval.domain.unit_model import UnitLanguageModel
from trolyao.logs import get_logger

log = get_logger("retrieval")

ARCHIVE_FILE = "archive.tar.gz"
UNPACKED_DIR = "unpacked"
PREVIOUS_POINTS_FILE = "previous-points.jsonl"
POINTS_BATCH = 512
REGISTRY_CHECK_OK = "ok"


class ArchivedRegistry(Protocol):
    """The registry as archives see it: an SQLite registry file per unit, whichever adapter keeps
    it (`SqliteDocumentRegistry` is that file; `NatsDocumentRegistry` writes and reads one)."""

    def list(self, unit: str, *, include_deleted: bool = False) -> list[DocumentRecord]: ...

    def drop_unit(self, unit: str) -> None: ...

    def stream_sequence(self, unit: str) -> int: ...

    def backup_unit(self, unit: str, destination: Path) -> None: ...

    def replace_unit(self, unit: str, source: Path) -> Path | None: ...

    def restore_previous(self, unit: str, previous: Path | None) -> None: ...


class UnitModels(Protocol):
    """What import needs from the answer engine: recount a unit's language model, persist it."""

    def rebuild_unit_model(self, unit: str, chunks: Iterable[ScoredChunk]) -> None: ...

    def flush(self) -> None: ...


class UnitModelFiles(Protocol):
    """What export and import need from the model repository on disk (`FileUnitModelRepository`)."""

    def export(self, unit: str, destination: Path) -> int: ...

    def install(self, unit: str, source: Path, model: UnitLanguageModel) -> None: ...


ModelReader = Callable[[Path], UnitLanguageModel]


class EdgeShards(Protocol):
    """The snapshot hooks of `EdgeVectorStore`."""

    def writes_paused(self, unit: str) -> Any: ...

    def reload_unit(self, unit: str, *, replacement: Path | None = None) -> None: ...


class PointsStore(Protocol):
    """The archive hooks of `QdrantServerVectorStore` (besides the VectorStore port)."""

    def stored_chunks(self, unit: str) -> Iterator[StoredChunk]: ...


class ArchiveFormat(Protocol):
    """How a unit's index is cut into a staging directory and installed from one."""

    name: str

    def cut(self, unit: str, staging: Path) -> None:
        """Copy the unit's index into `staging` (the caller holds the unit's Indexer lock)."""

    def install(self, unit: str, unpacked: Path) -> None:
        """Make the unpacked index live, or raise leaving the previous one (caller holds the lock)."""


@dataclass
class EdgeFilesFormat:
    """Qdrant Edge: the shard's files, copied while the unit's writes are paused."""

    store: EdgeShards
    name: str = EDGE_FILES_FORMAT

    def cut(self, unit: str, staging: Path) -> None:
        with self.store.writes_paused(unit) as unit_dir:
            copy_tree_sparse(Path(unit_dir), staging / SHARD_PREFIX)

    def install(self, unit: str, unpacked: Path) -> None:
        shard = unpacked / SHARD_PREFIX
        shard.mkdir(parents=True, exist_ok=True)
        self.store.reload_unit(unit, replacement=shard)


@dataclass
class PointsFormat:
    """A Qdrant server: points with vectors and payloads, one JSON line each.

    Installing drops the unit's collection and upserts the archived points; if that fails the
    previous points (saved first) are put back. Searches of that unit during the load see a
    partly loaded collection; other units are not touched.
    """

    store: VectorStore
    name: str = POINTS_FORMAT

    def _points(self) -> PointsStore:
        if not hasattr(self.store, "stored_chunks"):
            raise ArchiveRejected("kho vector hiện tại không xuất được điểm (points)")
        points: PointsStore = self.store  # type: ignore[assignment]
        return points

    def cut(self, unit: str, staging: Path) -> None:
        write_points(self._points().stored_chunks(unit), staging / POINTS_MEMBER)

    def install(self, unit: str, unpacked: Path) -> None:
        previous = unpacked.parent / PREVIOUS_POINTS_FILE
        write_points(self._points().stored_chunks(unit), previous)
        try:
            self._load(unit, unpacked / POINTS_MEMBER)
        except Exception:
            self._load(unit, previous)
            raise

    def _load(self, unit: str, path: Path) -> None:
        self.store.drop_unit(unit)
        batch: list[StoredChunk] = []
        for chunk in read_points(path, unit):
            batch.append(chunk)
            if len(batch) >= POINTS_BATCH:
                self.store.upsert_chunks(unit, batch)
                batch = []
        if batch:
            self.store.upsert_chunks(unit, batch)


def write_points(chunks: Iterable[StoredChunk], path: Path) -> int:
    """One JSON line per chunk (vectors, payload fields); returns how many were written."""
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for chunk in chunks:
            record = {
                "document_id": chunk.document_id,
                "version": chunk.version,
                "ordinal": chunk.chunk.ordinal,
                "text": chunk.chunk.text,
                "path": chunk.chunk.path,
                "kind": chunk.chunk.kind.value,
                "question": chunk.chunk.question,
                "extra": dict(chunk.chunk.extra),
                "metadata": {
                    name: getattr(chunk.metadata, name) for name in DocumentMetadata.__dataclass_fields__
                },
                "sparse": {"indices": list(chunk.sparse.indices), "values": list(chunk.sparse.values)},
                "dense": list(chunk.dense) if chunk.dense is not None else None,
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_points(path: Path, unit: str) -> Iterator[StoredChunk]:
    """The chunks of a points file, for `unit`."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            raw = json.loads(line)
            metadata = raw.get("metadata") or {}
            yield StoredChunk(
                unit=unit,
                document_id=str(raw["document_id"]),
                version=int(raw["version"]),
                chunk=Chunk(
                    ordinal=int(raw["ordinal"]),
                    text=str(raw["text"]),
                    path=str(raw.get("path", "")),
                    kind=ChunkKind(raw.get("kind", ChunkKind.PASSAGE.value)),
                    question=str(raw.get("question", "")),
                    extra={str(k): str(v) for k, v in (raw.get("extra") or {}).items()},
                ),
                metadata=DocumentMetadata(
                    **{
                        name: str(metadata[name])
                        for name in DocumentMetadata.__dataclass_fields__
                        if name in metadata
                    }
                ),
                sparse=SparseVector(
                    indices=tuple(int(i) for i in raw["sparse"]["indices"]),
                    values=tuple(float(v) for v in raw["sparse"]["values"]),
                ),
                dense=tuple(float(v) for v in raw["dense"]) if raw.get("dense") is not None else None,
            )


@dataclass
class ExportedArchive:
    """An archive written to the staging area; `discard()` once it has been sent."""

    info: ArchiveInfo
    path: Path
    size: int
    sha256: str
    staging: Path

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class UnitTransfer:
    """Exports and imports one unit's index at a time per unit; other units are never locked."""

    def __init__(
        self,
        *,
        store: VectorStore,
        registry: ArchivedRegistry,
        indexer: Indexer,
        unit_models: UnitModels,
        archive_format: ArchiveFormat,
        embedding_model: str,
        dense_dimension: int,
        staging_root: Path,
        model_files: UnitModelFiles | None = None,
        read_model: ModelReader | None = None,
    ) -> None:
        self._store = store
        self._model_files = model_files
        self._read_model = read_model
        self._registry = registry
        self._indexer = indexer
        self._unit_models = unit_models
        self._format = archive_format
        self._embedding_model = embedding_model
        self._dense_dimension = dense_dimension
        self._staging_root = Path(staging_root)
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()

    @property
    def format_name(self) -> str:
        return self._format.name

    def _transfer_lock(self, unit: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks[unit]

    def export_unit(self, unit: str) -> ExportedArchive:
        """Cut the unit's index and write it as an archive in the staging area."""
        started = time.perf_counter()
        staging = self._staging_root / f".export-{unit}-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        try:
            registry_copy = staging / REGISTRY_MEMBER
            model_copy = staging / UNIT_MODEL_MEMBER if self._model_files is not None else None
            with self._indexer.unit_lock(unit):
                paused = time.perf_counter()
                self._format.cut(unit, staging)
                self._registry.backup_unit(unit, registry_copy)
                if self._model_files is not None and model_copy is not None:
                    self._model_files.export(unit, model_copy)
                info = ArchiveInfo(
                    unit=unit,
                    format=self._format.name,
                    stream_sequence=self._registry.stream_sequence(unit),
                    embedding_model=self._embedding_model,
                    dense_dimension=self._dense_dimension,
                    documents=len(self._registry.list(unit)),
                    chunks=self._store.count(unit),
                    created_at=_now_iso(),
                )
                paused_seconds = time.perf_counter() - paused
            archive = staging / ARCHIVE_FILE
            write_archive(
                archive,
                info,
                registry=registry_copy,
                shard_dir=staging / SHARD_PREFIX,
                points=staging / POINTS_MEMBER if (staging / POINTS_MEMBER).exists() else None,
                unit_model=model_copy,
            )
            size, sha256 = file_digest(archive)
        except Exception:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        log.info(
            "unit_exported",
            unit=unit,
            chunks=info.chunks,
            bytes=size,
            stream_sequence=info.stream_sequence,
            writes_paused_seconds=round(paused_seconds, 4),
            seconds=round(time.perf_counter() - started, 3),
        )
        return ExportedArchive(info=info, path=archive, size=size, sha256=sha256, staging=staging)

    @contextmanager
    def receiving(self, unit: str) -> Iterator[Path]:
        """A fresh staging directory for an incoming archive of `unit` (removed afterwards); one
        import per unit at a time."""
        lock = self._transfer_lock(unit)
        if not lock.acquire(blocking=False):
            raise ArchiveRejected(f"đơn vị {unit} đang được khôi phục bởi một yêu cầu khác")
        staging = self._staging_root / f".restore-{unit}"
        try:
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            lock.release()

    def import_unit(self, unit: str, archive: Path, *, size: int, sha256: str) -> ArchiveInfo:
        """Verify `archive` (in the directory given by `receiving`) and make it the unit's index."""
        measured_size, measured_sha256 = file_digest(archive)
        if measured_size != size or measured_sha256 != sha256:
            raise ArchiveRejected(
                f"dữ liệu nhận được không khớp tổng kiểm (nhận {measured_size} byte,"
                f" cần {size} byte); chỉ mục hiện tại được giữ nguyên"
            )
        unpacked = archive.parent / UNPACKED_DIR
        started = time.perf_counter()
        info = read_archive(archive, unpacked)
        unpacked_seconds = time.perf_counter() - started
        self._check_compatible(unit, info)
        _check_registry(unpacked / REGISTRY_MEMBER)
        model = self._archived_model(unit, unpacked / UNIT_MODEL_MEMBER, info)
        with self._indexer.unit_lock(unit):
            swapped = time.perf_counter()
            previous = self._registry.replace_unit(unit, unpacked / REGISTRY_MEMBER)
            try:
                self._format.install(unit, unpacked)
            except Exception:
                self._registry.restore_previous(unit, previous)
                raise
            if previous is not None:
                previous.unlink(missing_ok=True)
            if model is not None and self._model_files is not None:
                try:
                    self._model_files.install(unit, unpacked / UNIT_MODEL_MEMBER, model)
                except OSError as error:  # the index is in place: count its model instead
                    log.warning("unit_model_not_installed", unit=unit, error=str(error))
                    model = None
            if model is None:
                self._rebuild_unit_model(unit)
            swap_seconds = time.perf_counter() - swapped
        if model is None:
            self._unit_models.flush()
        restored = ArchiveInfo(
            unit=unit,
            format=info.format,
            stream_sequence=self._registry.stream_sequence(unit),
            embedding_model=self._embedding_model,
            dense_dimension=self._dense_dimension,
            documents=len(self._registry.list(unit)),
            chunks=self._store.count(unit),
            created_at=info.created_at,
        )
        log.info(
            "unit_imported",
            unit=unit,
            chunks=restored.chunks,
            documents=restored.documents,
            stream_sequence=restored.stream_sequence,
            archive_version=info.version,
            unit_model="moved" if model is not None else "recounted",
            unpack_seconds=round(unpacked_seconds, 3),
            swap_seconds=round(swap_seconds, 3),
        )
        return restored

    def _archived_model(self, unit: str, path: Path, info: ArchiveInfo) -> UnitLanguageModel | None:
        """The archive's unit model, read and checked before anything is swapped; None when it has
        none, or one this retrieval cannot use (then the model is recounted from the chunks)."""
        if self._model_files is None or self._read_model is None or not path.exists():
            return None
        try:
            model = self._read_model(path)
        except (OSError, ValueError, KeyError) as error:
            log.warning("unit_model_unreadable_in_archive", unit=unit, error=str(error))
            return None
        if model.chunk_count != info.chunks:
            log.warning(
                "unit_model_does_not_match_archive", unit=unit, model=model.chunk_count, chunks=info.chunks
            )
            return None
        return model

    def drop_unit(self, unit: str) -> tuple[int, int]:
        """Forget the unit's whole index (its points, registry and tombstones, its language model)
        because the unit is deleted; returns the (documents, chunks) it held. Other units are not
        locked or touched."""
        with self._transfer_lock(unit), self._indexer.unit_lock(unit):
            documents, chunks = len(self._registry.list(unit)), self._store.count(unit)
            self._store.drop_unit(unit)
            self._registry.drop_unit(unit)
            self._unit_models.rebuild_unit_model(unit, ())
        self._unit_models.flush()
        log.info("unit_index_deleted", unit=unit, documents=documents, chunks=chunks)
        return documents, chunks

    def _check_compatible(self, unit: str, info: ArchiveInfo) -> None:
        if info.unit != unit:
            raise ArchiveRejected(f"bản lưu này là của đơn vị {info.unit}, không phải {unit}")
        if info.format != self._format.name:
            raise ArchiveRejected(
                f"bản lưu có định dạng {info.format}, kho vector hiện tại cần {self._format.name}"
            )
        if info.embedding_model != self._embedding_model or info.dense_dimension != self._dense_dimension:
            raise ArchiveRejected(
                f"bản lưu dùng mô hình nhúng {info.embedding_model} ({info.dense_dimension} chiều),"
                f" hệ thống đang dùng {self._embedding_model} ({self._dense_dimension} chiều)"
            )

    def _rebuild_unit_model(self, unit: str) -> None:
        chunks = (
            hit
            for record in self._registry.list(unit)
            for hit in self._store.document_chunks(unit, record.document_id)
        )
        self._unit_models.rebuild_unit_model(unit, chunks)


def _check_registry(path: Path) -> None:
    try:
        connection = sqlite3.connect(path)
        try:
            row = connection.execute("PRAGMA integrity_check").fetchone()
            connection.execute("SELECT count(*) FROM documents").fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise ArchiveRejected(f"sổ đăng ký văn bản trong bản lưu bị hỏng ({error})") from error
    if not row or row[0] != REGISTRY_CHECK_OK:
        raise ArchiveRejected("sổ đăng ký văn bản trong bản lưu bị hỏng")


class _NoUnitModels:
    """For engines without per-unit models: nothing to rebuild."""

    def rebuild_unit_model(self, unit: str, chunks: Iterable[ScoredChunk]) -> None:
        del unit, chunks

    def flush(self) -> None:
        """Nothing to persist."""


def build_unit_transfer(
    *,
    store: VectorStore,
    registry: ArchivedRegistry,
    indexer: Indexer,
    engine: object,
    embedding_model: str,
    dense_dimension: int,
    data_root: Path,
    model_files: UnitModelFiles | None = None,
    read_model: ModelReader | None = None,
) -> UnitTransfer:
    """Shard files for Qdrant Edge (staged beside the shards, for an atomic rename), points for a
    Qdrant server (staged under the service's data root). With `model_files` (and the `read_model`
    that reads what they export), archives carry the unit model and restores move it into place."""
    archive_format: ArchiveFormat
    staging_root = Path(data_root)
    edge_root = getattr(store, "root", None)
    if hasattr(store, "reload_unit") and hasattr(store, "writes_paused") and isinstance(edge_root, Path):
        archive_format = EdgeFilesFormat(store=store)  # type: ignore[arg-type]
        staging_root = edge_root
    else:
        archive_format = PointsFormat(store=store)
    unit_models: UnitModels = (
        engine if hasattr(engine, "rebuild_unit_model") and hasattr(engine, "flush") else _NoUnitModels()
    )
    return UnitTransfer(
        store=store,
        registry=registry,
        indexer=indexer,
        unit_models=unit_models,
        archive_format=archive_format,
        embedding_model=embedding_model,
        dense_dimension=dense_dimension,
        staging_root=staging_root,
        model_files=model_files,
        read_model=read_model,
    )
