"""Take a snapshot of one unit, or of everything.

For each unit: read the ingest consumer's ack floor, have retrieval export a consistent cut of the
unit's index, store it, then the unit's key-value entries and the manifest of its originals; for
everything, also the ministry-wide buckets; write the manifest last.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from datetime import datetime

from services.ops.identity.adapters.security_layout import (
    ACCOUNTS_BUCKET,
    SECURITY_POLICY_BUCKET,
    SIGNING_KEYS_BUCKET,
)
from services.ops.recovery.domain.part_encoding import kv_json, originals_json
from services.ops.recovery.domain.retention import on_demand_retry_after
from services.ops.recovery.domain.snapshots import (
    INDEX_PART,
    KV_PART,
    MANIFEST_DIGEST_NAME,
    MANIFEST_NAME,
    ORIGINALS_PART,
    InvalidSnapshotRequest,
    PartKind,
    SnapshotLimitReached,
    SnapshotManifest,
    SnapshotPart,
    SnapshotScope,
    SnapshotTrigger,
    UnitSnapshot,
    bucket_part_name,
    manifest_digest,
    new_snapshot_id,
    replay_start,
    snapshot_time,
    snapshot_unit,
    unit_part_name,
)
from services.ops.recovery.use_cases.context import ACTION_TAKEN, OUTCOME_SUCCESS, RecoveryContext, log
from trolyao.messaging import API_KEYS_BUCKET, UNIT_ID_PATTERN, UNITS_BUCKET

# Ministry-wide buckets a snapshot of everything keeps. Sessions, login challenges, throttling and
# conversations are left out: they expire anyway, and bringing back a revoked session is wrong.
MINISTRY_BUCKETS = (
    UNITS_BUCKET,
    API_KEYS_BUCKET,
    ACCOUNTS_BUCKET,
    SIGNING_KEYS_BUCKET,
    SECURITY_POLICY_BUCKET,
)


def _now_iso(now: datetime) -> str:
    return now.isoformat(timespec="milliseconds")


async def take_snapshot(
    ctx: RecoveryContext,
    *,
    unit: str | None,
    trigger: SnapshotTrigger = SnapshotTrigger.MANUAL,
    actor: str = "system",
    client_address: str = "",
) -> SnapshotManifest:
    """Snapshot one unit (`unit`), or every unit and the ministry-wide buckets (None).

    A unit's on-demand snapshots are limited per hour (SnapshotLimitReached with the seconds to
    wait), and taken one at a time, so the limit cannot be raced.
    """
    if unit is not None and not UNIT_ID_PATTERN.fullmatch(unit):
        raise InvalidSnapshotRequest(f"mã đơn vị không hợp lệ: {unit!r}")
    if unit is None or trigger is not SnapshotTrigger.MANUAL:
        return await _take_snapshot(
            ctx, unit=unit, trigger=trigger, actor=actor, client_address=client_address
        )
    async with ctx.on_demand_locks.setdefault(unit, asyncio.Lock()):
        taken = [
            moment
            for snapshot_id in await asyncio.to_thread(ctx.storage.snapshot_ids)
            if snapshot_unit(snapshot_id) == unit and (moment := snapshot_time(snapshot_id)) is not None
        ]
        wait = on_demand_retry_after(taken, now=ctx.now(), policy=ctx.config.retention)
        if wait:
            raise SnapshotLimitReached(
                f"Đơn vị '{unit}' đã chụp {ctx.config.retention.on_demand_per_hour} bản trong một giờ qua;"
                f" hãy thử lại sau {wait} giây.",
                retry_after_seconds=wait,
            )
        return await _take_snapshot(
            ctx, unit=unit, trigger=trigger, actor=actor, client_address=client_address
        )


async def _take_snapshot(
    ctx: RecoveryContext,
    *,
    unit: str | None,
    trigger: SnapshotTrigger,
    actor: str,
    client_address: str,
) -> SnapshotManifest:
    started = time.perf_counter()
    now = ctx.now()
    scope = SnapshotScope.ALL if unit is None else SnapshotScope.UNIT
    snapshot_id = new_snapshot_id(now, scope, unit)
    stream = await ctx.sources.docs_stream()
    units = [unit] if unit is not None else await ctx.sources.unit_ids()
    entries: list[UnitSnapshot] = []
    parts: list[SnapshotPart] = []
    embedding_model = ""
    try:
        for name in units:
            entry, unit_parts, model = await _snapshot_unit(ctx, snapshot_id, name)
            entries.append(entry)
            parts.extend(unit_parts)
            embedding_model = embedding_model or model
        if scope is SnapshotScope.ALL:
            for bucket in MINISTRY_BUCKETS:
                share = await ctx.sources.bucket_key_values(bucket)
                parts.append(
                    await _put(
                        ctx, snapshot_id, bucket_part_name(bucket), PartKind.BUCKET, "", kv_json([share])
                    )
                )
        manifest = SnapshotManifest(
            snapshot_id=snapshot_id,
            scope=scope,
            created_at=_now_iso(now),
            embedding_model=embedding_model,
            stream_sequence=stream.last_sequence,
            stream_created=stream.created,
            trigger=trigger,
            storage=ctx.storage.kind,
            units=tuple(entries),
            parts=tuple(parts),
            seconds=round(time.perf_counter() - started, 4),
        )
        data = manifest.to_json()
        await asyncio.to_thread(
            ctx.storage.put, snapshot_id, MANIFEST_DIGEST_NAME, (manifest_digest(data) + "\n").encode()
        )
        await asyncio.to_thread(ctx.storage.put, snapshot_id, MANIFEST_NAME, data)
    except BaseException:
        await asyncio.to_thread(ctx.storage.delete, snapshot_id)
        raise
    log.info(
        "snapshot_taken",
        snapshot_id=snapshot_id,
        units=len(entries),
        chunks=sum(entry.chunks for entry in entries),
        bytes=manifest.size_bytes,
        seconds=manifest.seconds,
        trigger=trigger.value,
    )
    await ctx.audit.record(
        ACTION_TAKEN,
        OUTCOME_SUCCESS,
        actor=actor,
        unit=unit or "",
        target=snapshot_id,
        client_address=client_address,
        details={"scope": scope.value, "units": str(len(entries)), "trigger": trigger.value},
    )
    return manifest


async def _snapshot_unit(
    ctx: RecoveryContext, snapshot_id: str, unit: str
) -> tuple[UnitSnapshot, list[SnapshotPart], str]:
    ack_floor = await ctx.sources.ingest_ack_floor(unit)  # before the cut: all at or below it are in it
    header, blocks = await ctx.archives.export_unit(unit)
    index_name = unit_part_name(unit, INDEX_PART)
    size, sha256 = await _write_stream(ctx, snapshot_id, index_name, blocks)
    if size != header.size or sha256 != header.sha256:
        raise RuntimeError(f"archive of unit {unit} changed in transit ({size} != {header.size} bytes)")
    index_part = SnapshotPart(index_name, PartKind.UNIT_INDEX, unit, size, sha256)
    kv_part = await _put(
        ctx,
        snapshot_id,
        unit_part_name(unit, KV_PART),
        PartKind.UNIT_KV,
        unit,
        kv_json(await ctx.sources.unit_key_values(unit)),
    )
    originals = await ctx.sources.originals(unit)
    originals_part = await _put(
        ctx,
        snapshot_id,
        unit_part_name(unit, ORIGINALS_PART),
        PartKind.UNIT_ORIGINALS,
        unit,
        originals_json(originals),
    )
    entry = UnitSnapshot(
        unit=unit,
        stream_sequence=header.stream_sequence,
        replay_from_sequence=replay_start(header.stream_sequence, ack_floor),
        documents=header.documents,
        chunks=header.chunks,
        originals=len(originals),
        index_format=header.format,
    )
    return entry, [index_part, kv_part, originals_part], header.embedding_model


async def _write_stream(
    ctx: RecoveryContext, snapshot_id: str, name: str, blocks: AsyncIterator[bytes]
) -> tuple[int, str]:
    writer = await asyncio.to_thread(ctx.storage.writer, snapshot_id, name)
    digest = hashlib.sha256()
    size = 0
    try:
        async for block in blocks:
            digest.update(block)
            size += len(block)
            await asyncio.to_thread(writer.write, block)
        await asyncio.to_thread(writer.commit)
    except BaseException:
        await asyncio.to_thread(writer.abort)
        raise
    return size, digest.hexdigest()


async def _put(
    ctx: RecoveryContext, snapshot_id: str, name: str, kind: PartKind, unit: str, data: bytes
) -> SnapshotPart:
    await asyncio.to_thread(ctx.storage.put, snapshot_id, name, data)
    return SnapshotPart(name, kind, unit, len(data), hashlib.sha256(data).hexdigest())
