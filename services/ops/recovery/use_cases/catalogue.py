"""The snapshots in storage: list them, load a manifest, verify every part a restore needs."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from services.ops.recovery.domain.snapshot_ports import PartMissing
from services.ops.recovery.domain.snapshots import (
    MANIFEST_DIGEST_NAME,
    MANIFEST_NAME,
    RejectionCode,
    SnapshotManifest,
    SnapshotRejected,
    check_complete,
    check_manifest_digest,
    check_part,
)
from services.ops.recovery.use_cases.context import BLOCK_BYTES, RecoveryContext, log


async def list_snapshots(
    ctx: RecoveryContext, *, unit: str | None = None, limit: int = 0
) -> list[SnapshotManifest]:
    """Complete snapshots, newest first (by creation time: ids tell only the second, and two
    snapshots of one second would otherwise come in the order of their random suffixes; with
    `limit`, a page ending inside one second may still miss its later twin); with `unit`, those
    holding it."""
    manifests: list[SnapshotManifest] = []
    for snapshot_id in sorted(await asyncio.to_thread(ctx.storage.snapshot_ids), reverse=True):
        data = await asyncio.to_thread(ctx.storage.get, snapshot_id, MANIFEST_NAME)
        if data is None:
            continue
        try:
            manifest = SnapshotManifest.from_json(data)
        except SnapshotRejected:
            log.warning("snapshot_manifest_unreadable", snapshot_id=snapshot_id)
            continue
        if unit is not None and not manifest.holds(unit):
            continue
        manifests.append(manifest)
        if limit and len(manifests) >= limit:
            break  # reading every manifest for a page would slow each listing as snapshots grow
    manifests.sort(key=lambda manifest: (manifest.created_at, manifest.snapshot_id), reverse=True)
    return manifests


async def load_manifest(ctx: RecoveryContext, snapshot_id: str) -> SnapshotManifest:
    """The manifest, checked against its sha256; SnapshotRejected when missing or damaged."""
    if not snapshot_id or "/" in snapshot_id:
        raise SnapshotRejected(RejectionCode.NOT_FOUND, f"Không tìm thấy bản chụp '{snapshot_id}'.")
    data = await asyncio.to_thread(ctx.storage.get, snapshot_id, MANIFEST_NAME)
    if data is None:
        known = snapshot_id in await asyncio.to_thread(ctx.storage.snapshot_ids)
        raise SnapshotRejected(
            RejectionCode.INCOMPLETE if known else RejectionCode.NOT_FOUND,
            f"Bản chụp '{snapshot_id}' chưa hoàn tất (thiếu tệp kê khai)."
            if known
            else f"Không tìm thấy bản chụp '{snapshot_id}'.",
        )
    recorded = await asyncio.to_thread(ctx.storage.get, snapshot_id, MANIFEST_DIGEST_NAME)
    check_manifest_digest(data, (recorded or b"").decode("ascii", errors="replace"))
    manifest = SnapshotManifest.from_json(data)
    if manifest.snapshot_id != snapshot_id:
        raise SnapshotRejected(RejectionCode.CORRUPTED, "Tệp kê khai thuộc về một bản chụp khác.")
    return manifest


async def verify_snapshot(
    ctx: RecoveryContext, snapshot_id: str, *, unit: str | None = None
) -> SnapshotManifest:
    """Check the manifest and every part a restore of `unit` (or of everything) needs."""
    manifest = await load_manifest(ctx, snapshot_id)
    for part in check_complete(manifest, unit):
        size, sha256 = await _measure(ctx, snapshot_id, part.name)
        check_part(part, size=size, sha256=sha256)
    return manifest


async def _measure(ctx: RecoveryContext, snapshot_id: str, name: str) -> tuple[int | None, str | None]:
    def work() -> tuple[int | None, str | None]:
        digest = hashlib.sha256()
        size = 0
        try:
            for block in ctx.storage.blocks(snapshot_id, name, BLOCK_BYTES):
                digest.update(block)
                size += len(block)
        except PartMissing:
            return None, None
        return size, digest.hexdigest()

    return await asyncio.to_thread(work)


def manifest_summary(manifest: SnapshotManifest) -> dict[str, Any]:
    """A short JSON-able description (CLI output, logs)."""
    return {
        "snapshot_id": manifest.snapshot_id,
        "scope": manifest.scope.value,
        "created_at": manifest.created_at,
        "units": len(manifest.units),
        "chunks": sum(entry.chunks for entry in manifest.units),
        "bytes": manifest.size_bytes,
        "seconds": manifest.seconds,
    }
