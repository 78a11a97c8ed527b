"""Unit archives: one unit's index as a single file that can be stored, verified and loaded back.

An archive is a gzip'd tar (POSIX pax; `tar tzf` lists it) holding, `archive.json` first,

- `archive.json`: what the archive is (`ArchiveInfo`: unit, format, stream sequence, embedding
  model, dense dimension, counts, creation time);
- `registry.sqlite`: the unit's document registry (versions, tombstones, the applied stream
  sequence);
- `unit-model.json.gz` (archive version 2 on): the unit's language model as counted at the cut
  (`FileUnitModelRepository`'s file), so a restore moves it into place instead of recounting every
  chunk. Version 1 archives (before 2026-12) have none; their restore recounts the model;
- format "edge-files/1": `shard/<path>` for every file of the unit's Qdrant Edge shard. The shard
  preallocates its files (about 165 MB per unit, mostly holes), so a member stores only the file's
  data extents; its pax headers `TROLYAO.size` and `TROLYAO.extents` ("offset:length,...") say how
  to lay them out again. Copies are sparse too (SEEK_DATA / SEEK_HOLE; the whole file where the
  file system cannot tell holes);
- format "points/1": `points.jsonl`, one point per line (`id`, `dense`, `sparse`, `payload`), for
  a Qdrant server (qdrant-client's local mode has no snapshot API, and a server's snapshot files
  live on the server's disk), and portable between stores.

Gzip level 1: payload text compresses well at that level, and the archive is written while other
units keep being answered on a shared CPU.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import json
import os
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

ARCHIVE_INFO_MEMBER = "archive.json"
REGISTRY_MEMBER = "registry.sqlite"
UNIT_MODEL_MEMBER = "unit-model.json.gz"
# 1: archive.json, registry.sqlite, shard/… or points.jsonl; 2: and unit-model.json.gz (optional:
# a retrieval without model files writes none).
ARCHIVE_VERSION = 2
FIRST_ARCHIVE_VERSION = 1
SHARD_PREFIX = "shard"
POINTS_MEMBER = "points.jsonl"
EDGE_FILES_FORMAT = "edge-files/1"
POINTS_FORMAT = "points/1"
ARCHIVE_FORMATS = (EDGE_FILES_FORMAT, POINTS_FORMAT)
SIZE_HEADER = "TROLYAO.size"
EXTENTS_HEADER = "TROLYAO.extents"
GZIP_LEVEL = 1
COPY_BUFFER_BYTES = 1024 * 1024
DIGEST_BUFFER_BYTES = 1024 * 1024
FILE_MODE = 0o644


class ArchiveRejected(ValueError):
    """The archive is damaged, incomplete, or not for this unit or store; nothing was changed."""


@dataclass(frozen=True, slots=True)
class ArchiveInfo:
    """What an archive holds (`archive.json`)."""

    unit: str
    format: str
    stream_sequence: int
    embedding_model: str
    dense_dimension: int
    documents: int
    chunks: int
    created_at: str
    version: int = ARCHIVE_VERSION

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> ArchiveInfo:
        raw: dict[str, Any] = json.loads(data)
        return cls(
            unit=str(raw["unit"]),
            format=str(raw["format"]),
            stream_sequence=int(raw["stream_sequence"]),
            embedding_model=str(raw["embedding_model"]),
            dense_dimension=int(raw["dense_dimension"]),
            documents=int(raw["documents"]),
            chunks=int(raw["chunks"]),
            created_at=str(raw["created_at"]),
            version=int(raw.get("version", FIRST_ARCHIVE_VERSION)),
        )


# --- sparse files -------------------------------------------------------------------------------


def data_extents(handle: IO[bytes], size: int) -> list[tuple[int, int]]:
    """(offset, length) of the file's data; holes are left out. The whole file where the file
    system cannot tell (SEEK_DATA unsupported)."""
    descriptor = handle.fileno()
    extents: list[tuple[int, int]] = []
    offset = 0
    try:
        while offset < size:
            start = os.lseek(descriptor, offset, os.SEEK_DATA)
            end = min(os.lseek(descriptor, start, os.SEEK_HOLE), size)
            if end > start:
                extents.append((start, end - start))
            offset = end
    except OSError as error:
        if error.errno != errno.ENXIO:  # ENXIO: no data after `offset`
            return [(0, size)] if size else []
    return extents


def _copy_range(source: IO[bytes], target: IO[bytes], offset: int, length: int) -> None:
    source.seek(offset)
    target.seek(offset)
    remaining = length
    while remaining > 0:
        block = source.read(min(COPY_BUFFER_BYTES, remaining))
        if not block:
            raise ArchiveRejected("tệp nguồn ngắn hơn kích thước đã khai báo")
        target.write(block)
        remaining -= len(block)


def copy_sparse(source: Path, target: Path) -> int:
    """Copy a file keeping its holes; returns the bytes of data copied."""
    size = source.stat().st_size
    target.parent.mkdir(parents=True, exist_ok=True)
    copied = 0
    with source.open("rb") as reader, target.open("wb") as writer:
        writer.truncate(size)
        for offset, length in data_extents(reader, size):
            _copy_range(reader, writer, offset, length)
            copied += length
    return copied


def copy_tree_sparse(source: Path, target: Path) -> int:
    """Copy a directory tree (regular files only), keeping holes; returns the bytes of data copied."""
    target.mkdir(parents=True, exist_ok=True)
    copied = 0
    if not source.is_dir():
        return 0
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_dir():
            (target / relative).mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            copied += copy_sparse(path, target / relative)
    return copied


# --- digests ------------------------------------------------------------------------------------


def file_digest(path: Path) -> tuple[int, str]:
    """(size, sha256 hex) of a file."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(DIGEST_BUFFER_BYTES):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def read_blocks(path: Path, block_bytes: int) -> Iterator[bytes]:
    """The file's bytes in blocks of at most `block_bytes`."""
    with path.open("rb") as handle:
        while block := handle.read(block_bytes):
            yield block


# --- writing ------------------------------------------------------------------------------------


class _ExtentReader(io.RawIOBase):
    """Reads a file's data extents one after the other (what a sparse member stores)."""

    def __init__(self, handle: IO[bytes], extents: list[tuple[int, int]]) -> None:
        self._handle = handle
        self._extents = list(extents)
        self._position = 0  # inside the current extent

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while self._extents:
            offset, length = self._extents[0]
            if self._position >= length:
                self._extents.pop(0)
                self._position = 0
                continue
            self._handle.seek(offset + self._position)
            wanted = min(len(view), length - self._position)
            data = self._handle.read(wanted)
            if not data:
                raise ArchiveRejected("tệp nguồn ngắn hơn kích thước đã khai báo")
            view[: len(data)] = data
            self._position += len(data)
            return len(data)
        return 0


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    member.mode = FILE_MODE
    tar.addfile(member, io.BytesIO(data))


def _add_sparse_file(tar: tarfile.TarFile, name: str, path: Path) -> None:
    size = path.stat().st_size
    with path.open("rb") as handle:
        extents = data_extents(handle, size)
        member = tarfile.TarInfo(name)
        member.size = sum(length for _, length in extents)
        member.mode = FILE_MODE
        member.pax_headers = {
            SIZE_HEADER: str(size),
            EXTENTS_HEADER: ",".join(f"{offset}:{length}" for offset, length in extents),
        }
        tar.addfile(member, io.BufferedReader(_ExtentReader(handle, extents)))


def write_archive(
    archive: Path,
    info: ArchiveInfo,
    *,
    registry: Path,
    shard_dir: Path | None = None,
    points: Path | None = None,
    unit_model: Path | None = None,
) -> None:
    """Write the archive file: info, registry, the unit model, then the shard files or the points."""
    with (
        archive.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        _add_bytes(tar, ARCHIVE_INFO_MEMBER, info.to_json())
        tar.add(str(registry), arcname=REGISTRY_MEMBER, recursive=False)
        if unit_model is not None:
            tar.add(str(unit_model), arcname=UNIT_MODEL_MEMBER, recursive=False)
        if shard_dir is not None and shard_dir.is_dir():
            for path in sorted(shard_dir.rglob("*")):
                name = str(PurePosixPath(SHARD_PREFIX, *path.relative_to(shard_dir).parts))
                if path.is_file():
                    _add_sparse_file(tar, name, path)
        if points is not None:
            tar.add(str(points), arcname=POINTS_MEMBER, recursive=False)


# --- reading ------------------------------------------------------------------------------------


def _safe_relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ArchiveRejected(f"đường dẫn không hợp lệ trong kho lưu trữ: {name!r}")
    return path


def _parse_extents(member: tarfile.TarInfo) -> tuple[int, list[tuple[int, int]]]:
    headers = member.pax_headers
    if SIZE_HEADER not in headers:
        return member.size, [(0, member.size)] if member.size else []
    try:
        size = int(headers[SIZE_HEADER])
        items = (item.partition(":") for item in headers.get(EXTENTS_HEADER, "").split(","))
        extents = [(int(offset), int(length)) for offset, _, length in items if offset]
    except ValueError as error:
        raise ArchiveRejected(f"thông tin tệp thưa hỏng: {member.name}") from error
    if sum(length for _, length in extents) != member.size or any(
        offset < 0 or offset + length > size for offset, length in extents
    ):
        raise ArchiveRejected(f"thông tin tệp thưa không khớp: {member.name}")
    return size, extents


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    size, extents = _parse_extents(member)
    source = tar.extractfile(member)
    if source is None:
        raise ArchiveRejected(f"không đọc được {member.name}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as writer:
        writer.truncate(size)
        for offset, length in extents:
            writer.seek(offset)
            remaining = length
            while remaining > 0:
                block = source.read(min(COPY_BUFFER_BYTES, remaining))
                if not block:
                    raise ArchiveRejected(f"kho lưu trữ bị cắt cụt ở {member.name}")
                writer.write(block)
                remaining -= len(block)


def _read_to_end(tar: tarfile.TarFile) -> None:
    """Read the compressed stream to its end: gzip checks its CRC only there, and tar stops
    reading at its end-of-archive blocks."""
    stream = tar.fileobj
    if stream is None:
        return
    while stream.read(COPY_BUFFER_BYTES):
        pass


def read_archive(archive: Path, destination: Path) -> ArchiveInfo:
    """Unpack into `destination` (`archive.json`, `registry.sqlite`, `unit-model.json.gz`,
    `shard/...` or `points.jsonl`) and return its info. Raises ArchiveRejected for anything damaged,
    truncated or unexpected (a member its version does not have, a version newer than this code)."""
    destination.mkdir(parents=True, exist_ok=True)
    info: ArchiveInfo | None = None
    seen_registry = False
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                relative = _safe_relative(member.name)
                if member.isdir():
                    (destination / relative).mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isfile():
                    raise ArchiveRejected(f"loại mục không được phép trong kho lưu trữ: {member.name}")
                if member.name == ARCHIVE_INFO_MEMBER:
                    source = tar.extractfile(member)
                    info = ArchiveInfo.from_json(source.read() if source else b"")
                    if not FIRST_ARCHIVE_VERSION <= info.version <= ARCHIVE_VERSION:
                        raise ArchiveRejected(f"phiên bản kho lưu trữ không hỗ trợ: {info.version}")
                    continue
                if not _expected_member(member.name, relative, info):
                    raise ArchiveRejected(f"mục lạ trong kho lưu trữ: {member.name}")
                seen_registry = seen_registry or member.name == REGISTRY_MEMBER
                _extract_member(tar, member, destination / relative)
            _read_to_end(tar)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise ArchiveRejected(f"kho lưu trữ hỏng hoặc bị cắt cụt ({type(error).__name__})") from error
    except (KeyError, ValueError) as error:
        if isinstance(error, ArchiveRejected):
            raise
        raise ArchiveRejected(f"thông tin kho lưu trữ hỏng ({error})") from error
    if info is None or not seen_registry:
        raise ArchiveRejected("kho lưu trữ thiếu archive.json hoặc registry.sqlite")
    if info.format not in ARCHIVE_FORMATS:
        raise ArchiveRejected(f"định dạng kho lưu trữ không hỗ trợ: {info.format}")
    return info


def _expected_member(name: str, relative: PurePosixPath, info: ArchiveInfo | None) -> bool:
    """Whether an archive of `info`'s version may hold this member (archive.json comes first)."""
    if name == UNIT_MODEL_MEMBER:
        return info is not None and info.version >= ARCHIVE_VERSION
    return name in (REGISTRY_MEMBER, POINTS_MEMBER) or relative.parts[0] == SHARD_PREFIX
