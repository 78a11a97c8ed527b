"""Restore a snapshot: verify, load, replay. Audited either way.

Load the manifest and check its own sha256, check that every part the restore needs is listed,
present, of the listed size and sha256, and that the snapshot's embedding model is the one
retrieval runs; only then touch anything. Per unit: import the index (retrieval swaps atomically,
and checks the sha256 of what it received once more), write back key-value entries that were lost,
compare the originals, then ask ingest to replay the unit's document events after the snapshot's
stream sequence and wait for it, so every acknowledged change is back.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import TypeVar

from services.ops.recovery.domain.part_encoding import kv_from_json, originals_from_json
from services.ops.recovery.domain.snapshot_ports import ReplayOutcome, UnitArchiveHeader
from services.ops.recovery.domain.snapshots import (
    INDEX_PART,
    KV_PART,
    ORIGINALS_PART,
    InvalidSnapshotRequest,
    PartKind,
    PointInTime,
    RejectionCode,
    RestoreBusy,
    RestorePhase,
    RestoreReport,
    SnapshotManifest,
    SnapshotPart,
    SnapshotRejected,
    SnapshotScope,
    UnitRestoreReport,
    check_part,
    missing_originals,
    unit_part_name,
)
from services.ops.recovery.use_cases.catalogue import verify_snapshot
from services.ops.recovery.use_cases.context import (
    ACTION_RESTORE_FAILED,
    ACTION_RESTORE_REFUSED,
    ACTION_RESTORED,
    BLOCK_BYTES,
    OUTCOME_FAILURE,
    OUTCOME_SUCCESS,
    RecoveryContext,
    in_bounded_parallel,
    log,
)
from services.ops.recovery.use_cases.point_in_time import replay_range
from trolyao.messaging import UNIT_ID_PATTERN

Result = TypeVar("Result")
# Units of one restore in flight at once: one unit's archive streams and unpacks while another's
# shard opens in retrieval (which does that holding the interpreter, so more would only queue).
UNITS_AT_ONCE = 2


class _Phases:
    """Times each phase of a restore."""

    def __init__(self) -> None:
        self.items: list[RestorePhase] = []

    async def run(self, name: str, work: Callable[[], Awaitable[Result]]) -> Result:
        started = time.perf_counter()
        try:
            return await work()
        finally:
            self.items.append(RestorePhase(name=name, seconds=round(time.perf_counter() - started, 4)))


async def restore_snapshot(
    ctx: RecoveryContext,
    snapshot_id: str,
    *,
    unit: str | None,
    actor: str,
    client_address: str = "",
    point: PointInTime | None = None,
) -> RestoreReport:
    """Verify, load, replay. `unit` None restores every unit of a snapshot of everything; `point`
    bounds the replay (a point-in-time restore, see `point_in_time`)."""
    if unit is not None and not UNIT_ID_PATTERN.fullmatch(unit):
        raise InvalidSnapshotRequest(f"mã đơn vị không hợp lệ: {unit!r}")
    started = time.perf_counter()
    phases = _Phases()
    try:
        manifest = await phases.run("verify", lambda: verify_snapshot(ctx, snapshot_id, unit=unit))
        if unit is None and manifest.scope is not SnapshotScope.ALL:
            raise SnapshotRejected(
                RejectionCode.UNIT_MISSING,
                "Bản chụp này chỉ chứa một đơn vị: hãy chỉ rõ đơn vị cần khôi phục.",
            )
        units = [unit] if unit is not None else [entry.unit for entry in manifest.units]
        await _check_embedding_model(ctx, manifest, units)
    except SnapshotRejected as rejected:
        log.warning(
            "snapshot_restore_refused", snapshot_id=snapshot_id, unit=unit or "", code=rejected.code.value
        )
        await ctx.audit.record(
            ACTION_RESTORE_REFUSED,
            OUTCOME_FAILURE,
            actor=actor,
            unit=unit or "",
            target=snapshot_id,
            reason=rejected.code.value,
            client_address=client_address,
        )
        raise
    try:
        async with _restoring_units(ctx, units):
            reports = await _restore_units(ctx, manifest, units, point)
            restored_buckets: list[str] = []
            if unit is None:
                restored_buckets = await phases.run("buckets", lambda: _restore_buckets(ctx, manifest))
    except Exception as error:
        log.exception("snapshot_restore_failed", snapshot_id=snapshot_id, unit=unit or "")
        await ctx.audit.record(
            ACTION_RESTORE_FAILED,
            OUTCOME_FAILURE,
            actor=actor,
            unit=unit or "",
            target=snapshot_id,
            reason=type(error).__name__,
            client_address=client_address,
        )
        raise
    report = RestoreReport(
        snapshot_id=snapshot_id,
        units=tuple(reports),
        restored_buckets=tuple(restored_buckets),
        phases=tuple(phases.items),
        seconds=round(time.perf_counter() - started, 4),
    )
    log.info(
        "snapshot_restored",
        snapshot_id=snapshot_id,
        units=len(reports),
        chunks=sum(item.chunks for item in reports),
        replayed=sum(item.replayed_events for item in reports),
        seconds=report.seconds,
    )
    await ctx.audit.record(
        ACTION_RESTORED,
        OUTCOME_SUCCESS,
        actor=actor,
        unit=unit or "",
        target=snapshot_id,
        client_address=client_address,
        details={
            "units": str(len(reports)),
            "replayed_events": str(sum(item.replayed_events for item in reports)),
            "replay_complete": str(all(item.replay_complete for item in reports)).lower(),
            "skipped_events": str(sum(item.skipped_events for item in reports)),
            "up_to_sequence": str(point.up_to_sequence if point else 0),
            "up_to_time": point.up_to_time.isoformat() if point and point.up_to_time else "",
            "seconds": f"{report.seconds:.3f}",
        },
    )
    return report


async def _check_embedding_model(ctx: RecoveryContext, manifest: SnapshotManifest, units: list[str]) -> None:
    if not units or not manifest.embedding_model:
        return
    stats = await ctx.archives.unit_stats(units[0])
    if stats.embedding_model != manifest.embedding_model:
        raise SnapshotRejected(
            RejectionCode.INCOMPATIBLE,
            f"Bản chụp dùng mô hình nhúng '{manifest.embedding_model}', dịch vụ tìm kiếm đang dùng"
            f" '{stats.embedding_model}': không thể nạp lẫn vector của hai mô hình.",
        )


@asynccontextmanager
async def _restoring_units(ctx: RecoveryContext, units: list[str]) -> AsyncIterator[None]:
    busy = [name for name in units if name in ctx.restoring]
    if busy:
        raise RestoreBusy(f"đơn vị {', '.join(busy)} đang được khôi phục")
    ctx.restoring.update(units)
    try:
        yield
    finally:
        ctx.restoring.difference_update(units)


async def _restore_units(
    ctx: RecoveryContext, manifest: SnapshotManifest, units: list[str], point: PointInTime | None
) -> list[UnitRestoreReport]:
    """Each unit's restore, `UNITS_AT_ONCE` at a time, reports in the order of `units`."""
    return await in_bounded_parallel(
        units, lambda unit: _restore_unit(ctx, manifest, unit, point), limit=UNITS_AT_ONCE
    )


async def _restore_unit(
    ctx: RecoveryContext, manifest: SnapshotManifest, unit: str, point: PointInTime | None
) -> UnitRestoreReport:
    phases = _Phases()
    entry = manifest.unit(unit)
    index_part = manifest.part(unit_part_name(unit, INDEX_PART))
    if entry is None or index_part is None:  # verified before; kept for the type checker
        raise SnapshotRejected(RejectionCode.UNIT_MISSING, f"Bản chụp không có dữ liệu của đơn vị '{unit}'.")
    header = UnitArchiveHeader(
        unit=unit,
        format=entry.index_format,
        stream_sequence=entry.stream_sequence,
        embedding_model=manifest.embedding_model,
        dense_dimension=0,
        documents=entry.documents,
        chunks=entry.chunks,
        created_at=manifest.created_at,
        size=index_part.size,
        sha256=index_part.sha256,
    )
    await phases.run(
        "import",
        lambda: ctx.archives.import_unit(header, _verified_blocks(ctx, manifest.snapshot_id, index_part)),
    )
    bounded = point is not None and point.bounded
    written = await phases.run(
        "key_values", lambda: _restore_unit_key_values(ctx, manifest, unit, replace_live=bounded)
    )
    missing = await phases.run("originals", lambda: _missing_originals(ctx, manifest, unit))
    start, last, stream_end, complete, note = await replay_range(ctx, manifest, entry, point)
    outcome = ReplayOutcome(0, 0, 0, "", 0)
    if start <= last:
        outcome = await phases.run(
            "replay", lambda: ctx.replayer.replay(unit, from_sequence=start, to_sequence=last)
        )
    skipped = 0
    if bounded and last < stream_end:
        _, skipped = await ctx.sources.unit_events(
            unit, from_sequence=max(last, start - 1) + 1, to_sequence=stream_end, limit=0
        )
    stats = await ctx.archives.unit_stats(unit)
    return UnitRestoreReport(
        unit=unit,
        documents=stats.documents,
        chunks=stats.chunks,
        replay_from_sequence=start,
        replay_to_sequence=last,
        replayed_events=outcome.events,
        replay_complete=complete and not outcome.error,
        replay_note=" ".join(text for text in (note, outcome.error) if text),
        missing_originals=tuple(missing),
        restored_key_values=written,
        phases=tuple(phases.items),
        skipped_events=skipped,
    )


async def _verified_blocks(
    ctx: RecoveryContext, snapshot_id: str, part: SnapshotPart
) -> AsyncIterator[bytes]:
    """The part's bytes as stored now (retrieval checks their size and sha256 against the
    verified manifest once more before it swaps anything)."""
    blocks: Iterator[bytes] = ctx.storage.blocks(snapshot_id, part.name, BLOCK_BYTES)
    while True:
        block = await asyncio.to_thread(next, blocks, None)
        if block is None:
            return
        yield block


async def _restore_unit_key_values(
    ctx: RecoveryContext, manifest: SnapshotManifest, unit: str, *, replace_live: bool
) -> int:
    data = await _part_bytes(ctx, manifest, unit_part_name(unit, KV_PART))
    if data is None:
        return 0
    return await ctx.sources.write_back_unit_key_values(unit, kv_from_json(data), replace_live=replace_live)


async def _missing_originals(ctx: RecoveryContext, manifest: SnapshotManifest, unit: str) -> list[str]:
    data = await _part_bytes(ctx, manifest, unit_part_name(unit, ORIGINALS_PART))
    if data is None:
        return []
    live = {entry.name: entry for entry in await ctx.sources.originals(unit)}
    return missing_originals(originals_from_json(data), live)


async def _restore_buckets(ctx: RecoveryContext, manifest: SnapshotManifest) -> list[str]:
    restored = []
    for part in manifest.parts:
        if part.kind is not PartKind.BUCKET:
            continue
        data = await _part_bytes(ctx, manifest, part.name)
        for share in kv_from_json(data or b"{}"):
            if await ctx.sources.write_back_bucket(share):
                restored.append(share.bucket)
    return restored


async def _part_bytes(ctx: RecoveryContext, manifest: SnapshotManifest, name: str) -> bytes | None:
    part = manifest.part(name)
    if part is None:
        return None
    data = await asyncio.to_thread(ctx.storage.get, manifest.snapshot_id, name)
    if data is None:
        raise SnapshotRejected(RejectionCode.INCOMPLETE, f"Bản chụp thiếu phần '{name}'.")
    check_part(part, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    return data
