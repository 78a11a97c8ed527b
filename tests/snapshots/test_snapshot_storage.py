"""One contract for every snapshot storage: a local directory, and an S3-compatible bucket (a real
S3 HTTP server from moto[server], in-process, when moto is installed)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.ops.recovery.adapters.snapshot_storage import (
    LocalSnapshotStorage,
    S3SnapshotStorage,
    build_s3_client,
)
from services.ops.recovery.domain.snapshot_ports import PartMissing, SnapshotStorage
from stack.natsserver import free_port

pytestmark = pytest.mark.timeout(60)

BLOCK = 1024 * 1024


class SnapshotStorageContract:
    """Every adapter must pass these."""

    @pytest.fixture
    def storage(self) -> Iterator[SnapshotStorage]:
        raise NotImplementedError

    def test_parts_round_trip_in_blocks(self, storage: SnapshotStorage) -> None:
        data = secrets.token_bytes(BLOCK * 2 + 17)
        writer = storage.writer("20260101T000000Z-all-aaaaaa", "units/a/index.tar.gz")
        for start in range(0, len(data), 100_000):
            writer.write(data[start : start + 100_000])
        writer.commit()
        blocks = list(storage.blocks("20260101T000000Z-all-aaaaaa", "units/a/index.tar.gz", BLOCK))
        assert b"".join(blocks) == data
        assert all(len(block) <= BLOCK for block in blocks)

    def test_an_aborted_part_is_not_visible(self, storage: SnapshotStorage) -> None:
        writer = storage.writer("20260101T000000Z-all-bbbbbb", "units/a/index.tar.gz")
        writer.write(b"half")
        writer.abort()
        with pytest.raises(PartMissing):
            list(storage.blocks("20260101T000000Z-all-bbbbbb", "units/a/index.tar.gz", BLOCK))

    def test_small_parts_listing_and_deletion(self, storage: SnapshotStorage) -> None:
        storage.put("20260101T000000Z-all-cccccc", "manifest.json", b"{}")
        storage.put("20260102T000000Z-unit-a-dddddd", "units/a/key-values.json", "ồ".encode())
        assert storage.get("20260101T000000Z-all-cccccc", "manifest.json") == b"{}"
        assert storage.get("20260101T000000Z-all-cccccc", "missing.json") is None
        assert set(storage.snapshot_ids()) >= {
            "20260101T000000Z-all-cccccc",
            "20260102T000000Z-unit-a-dddddd",
        }
        storage.delete("20260101T000000Z-all-cccccc")
        assert "20260101T000000Z-all-cccccc" not in storage.snapshot_ids()
        assert storage.get("20260101T000000Z-all-cccccc", "manifest.json") is None
        storage.delete("20260101T000000Z-all-cccccc")  # gone already: no error

    def test_names_cannot_escape(self, storage: SnapshotStorage) -> None:
        with pytest.raises(ValueError):
            storage.put("20260101T000000Z-all-eeeeee", "../outside", b"x")
        with pytest.raises(ValueError):
            storage.put("../20260101", "manifest.json", b"x")


class TestLocalSnapshotStorage(SnapshotStorageContract):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[SnapshotStorage]:
        yield LocalSnapshotStorage(tmp_path / "snapshots")

    def test_parts_are_plain_files(self, tmp_path: Path) -> None:
        storage = LocalSnapshotStorage(tmp_path / "snapshots")
        storage.put("20260101T000000Z-all-ffffff", "manifest.json", b"{}")
        path = tmp_path / "snapshots" / "20260101T000000Z-all-ffffff" / "manifest.json"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(b"{}").hexdigest()
        assert path.stat().st_mode & 0o077 == 0  # password hashes and sealed secrets: owner only
        assert (tmp_path / "snapshots").stat().st_mode & 0o077 == 0


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    port = free_port()
    server: Any = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


class TestS3SnapshotStorage(SnapshotStorageContract):
    @pytest.fixture
    def storage(self, s3_endpoint: str) -> Iterator[SnapshotStorage]:
        client = build_s3_client(
            endpoint_url=s3_endpoint, region="us-east-1", access_key_id="test", secret_access_key="test"
        )
        bucket = f"snapshots-{secrets.token_hex(4)}"
        client.create_bucket(Bucket=bucket)
        yield S3SnapshotStorage(client, bucket=bucket, prefix="trolyao")
