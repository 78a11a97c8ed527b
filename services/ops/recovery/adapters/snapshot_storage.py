"""Snapshot storage: a local directory (the default) or an S3-compatible bucket.

Both keep `<snapshot id>/<part name>` objects and pass the same contract tests
(tests/snapshots/test_snapshot_storage.py). Parts are written whole or not at all: the local
adapter writes `<name>.partial` then renames; the S3 adapter spools to a temporary file and uploads
on commit (boto3 switches to multipart uploads for big parts).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

from services.ops.recovery.domain.snapshot_ports import PartMissing
from trolyao.logs import get_logger

log = get_logger("ops")

PARTIAL_SUFFIX = ".partial"
# Snapshots hold password hashes and sealed secrets: readable by the service's user only.
DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
S3_MULTIPART_THRESHOLD_BYTES = 64 * 1024 * 1024
S3_LIST_PAGE = 1000
SPOOL_MEMORY_BYTES = 8 * 1024 * 1024


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"invalid snapshot part name {name!r}")
    return path


def _safe_id(snapshot_id: str) -> str:
    if not snapshot_id or "/" in snapshot_id or snapshot_id.startswith("."):
        raise ValueError(f"invalid snapshot id {snapshot_id!r}")
    return snapshot_id


class _LocalPartWriter:
    def __init__(self, target: Path) -> None:
        self._target = target
        self._partial = target.with_name(target.name + f".{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}")
        target.parent.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        descriptor = os.open(self._partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        self._handle: IO[bytes] | None = os.fdopen(descriptor, "wb")

    def write(self, data: bytes) -> None:
        if self._handle is None:
            raise RuntimeError("part writer already closed")
        self._handle.write(data)

    def commit(self) -> None:
        if self._handle is None:
            raise RuntimeError("part writer already closed")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self._handle = None
        os.replace(self._partial, self._target)

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self._partial.unlink(missing_ok=True)


class LocalSnapshotStorage:
    """Snapshots under `root/<snapshot id>/` (default `TROLYAO_DATA_DIR/snapshots`)."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._root.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        self._root.chmod(DIRECTORY_MODE)

    def _path(self, snapshot_id: str, name: str) -> Path:
        return self._root / _safe_id(snapshot_id) / _safe_name(name)

    def writer(self, snapshot_id: str, name: str) -> _LocalPartWriter:
        return _LocalPartWriter(self._path(snapshot_id, name))

    def blocks(self, snapshot_id: str, name: str, block_bytes: int) -> Iterator[bytes]:
        path = self._path(snapshot_id, name)
        try:
            handle = path.open("rb")
        except FileNotFoundError as error:
            raise PartMissing(name) from error
        with handle:
            while block := handle.read(block_bytes):
                yield block

    def put(self, snapshot_id: str, name: str, data: bytes) -> None:
        writer = self.writer(snapshot_id, name)
        try:
            writer.write(data)
            writer.commit()
        except BaseException:
            writer.abort()
            raise

    def get(self, snapshot_id: str, name: str) -> bytes | None:
        try:
            return self._path(snapshot_id, name).read_bytes()
        except FileNotFoundError:
            return None

    def snapshot_ids(self) -> list[str]:
        if not self._root.is_dir():
            return []
        return [
            entry.name for entry in self._root.iterdir() if entry.is_dir() and not entry.name.startswith(".")
        ]

    def delete(self, snapshot_id: str) -> None:
        shutil.rmtree(self._root / _safe_id(snapshot_id), ignore_errors=True)


class _S3PartWriter:
    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._spool: Any = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115

    def write(self, data: bytes) -> None:
        self._spool.write(data)

    def commit(self) -> None:
        from boto3.s3.transfer import TransferConfig

        self._spool.seek(0)
        config = TransferConfig(multipart_threshold=S3_MULTIPART_THRESHOLD_BYTES)
        try:
            self._client.upload_fileobj(self._spool, self._bucket, self._key, Config=config)
        finally:
            self._spool.close()

    def abort(self) -> None:
        self._spool.close()


class S3SnapshotStorage:
    """Snapshots in an S3-compatible bucket under `<prefix>/<snapshot id>/<part>`.

    `client` is a boto3 S3 client (`build_s3_client`); any S3-compatible service works (AWS S3,
    MinIO, Ceph RGW, ...). Keeping snapshots off the machine is the point of this adapter.
    """

    kind = "s3"

    def __init__(self, client: Any, *, bucket: str, prefix: str = "") -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix.strip("/")

    def _key(self, snapshot_id: str, name: str = "") -> str:
        parts = [self._prefix] if self._prefix else []
        parts.append(_safe_id(snapshot_id))
        if name:
            parts.append(str(_safe_name(name)))
        return "/".join(parts)

    def writer(self, snapshot_id: str, name: str) -> _S3PartWriter:
        return _S3PartWriter(self._client, self._bucket, self._key(snapshot_id, name))

    def blocks(self, snapshot_id: str, name: str, block_bytes: int) -> Iterator[bytes]:
        body = self._open(snapshot_id, name)
        with contextlib.closing(body):
            yield from body.iter_chunks(block_bytes)

    def _open(self, snapshot_id: str, name: str) -> Any:
        try:
            return self._client.get_object(Bucket=self._bucket, Key=self._key(snapshot_id, name))["Body"]
        except self._client.exceptions.NoSuchKey as error:
            raise PartMissing(name) from error

    def put(self, snapshot_id: str, name: str, data: bytes) -> None:
        self._client.put_object(Bucket=self._bucket, Key=self._key(snapshot_id, name), Body=data)

    def get(self, snapshot_id: str, name: str) -> bytes | None:
        try:
            body = self._open(snapshot_id, name)
        except PartMissing:
            return None
        with contextlib.closing(body):
            data: bytes = body.read()
            return data

    def snapshot_ids(self) -> list[str]:
        head = f"{self._prefix}/" if self._prefix else ""
        found: set[str] = set()
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(
            Bucket=self._bucket, Prefix=head, PaginationConfig={"PageSize": S3_LIST_PAGE}
        ):
            for item in page.get("Contents", []):
                rest = str(item["Key"])[len(head) :]
                snapshot_id, _, _ = rest.partition("/")
                if snapshot_id:
                    found.add(snapshot_id)
        return sorted(found)

    def delete(self, snapshot_id: str) -> None:
        head = self._key(snapshot_id) + "/"
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=head):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})


def build_s3_client(*, endpoint_url: str, region: str, access_key_id: str, secret_access_key: str) -> Any:
    """A boto3 S3 client; empty credentials fall back to boto3's usual chain (env, profile, role)."""
    import boto3

    options: dict[str, Any] = {}
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
    if region:
        options["region_name"] = region
    if access_key_id and secret_access_key:
        options["aws_access_key_id"] = access_key_id
        options["aws_secret_access_key"] = secret_access_key
    return boto3.client("s3", **options)
