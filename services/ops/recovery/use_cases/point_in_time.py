"""Point-in-time restore: where replay stops, and what a bounded restore would skip.

Restoring "up to" a DOCS stream sequence or a time undoes what came after it — a mass delete
through a stolen unit credential, say: the unit's index and records come back as the snapshot
holds them, the events up to the bound are replayed, and the later ones are skipped (they stay in
the stream, listed by the preview, and a later unbounded restore would replay them).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.ops.recovery.domain.snapshot_ports import StoredEvent
from services.ops.recovery.domain.snapshots import PointInTime, SnapshotManifest, UnitSnapshot, plan_replay
from services.ops.recovery.use_cases.catalogue import load_manifest
from services.ops.recovery.use_cases.context import RecoveryContext

MAX_PREVIEWED_EVENTS = 1000


@dataclass(frozen=True, slots=True)
class UnitRestorePreview:
    unit: str
    replay_from_sequence: int
    replay_to_sequence: int
    skipped: tuple[StoredEvent, ...]
    skipped_events: int


@dataclass(frozen=True, slots=True)
class RestorePreview:
    snapshot_id: str
    units: tuple[UnitRestorePreview, ...]


async def replay_bound(ctx: RecoveryContext, to_sequence: int, point: PointInTime | None) -> int:
    """The last sequence a restore replays: the plan's end, or the point in time's when earlier."""
    if point is None or not point.bounded:
        return to_sequence
    first_after = None
    if point.up_to_time is not None:
        first_after = await ctx.sources.first_sequence_stored_at_or_after(point.up_to_time)
    return point.last_sequence(to_sequence, first_at_or_after_time=first_after)


async def replay_range(
    ctx: RecoveryContext, manifest: SnapshotManifest, entry: UnitSnapshot, point: PointInTime | None
) -> tuple[int, int, int, bool, str]:
    """(from, to, stream end, complete, note) of a unit's replay after loading `entry`."""
    stream = await ctx.sources.docs_stream()
    plan = plan_replay(
        entry,
        manifest_stream_created=manifest.stream_created,
        stream_created=stream.created,
        first_sequence=stream.first_sequence,
        last_sequence=stream.last_sequence,
    )
    last = await replay_bound(ctx, plan.to_sequence, point)
    return plan.from_sequence, last, stream.last_sequence, plan.complete, plan.note


async def preview_restore(
    ctx: RecoveryContext, snapshot_id: str, *, unit: str | None, point: PointInTime | None
) -> RestorePreview:
    """What a restore of `unit` (None: every unit of the snapshot) would replay and skip; changes nothing."""
    manifest = await load_manifest(ctx, snapshot_id)
    previews = []
    for entry in manifest.units:
        if unit is not None and entry.unit != unit:
            continue
        start, last, stream_end, _, _ = await replay_range(ctx, manifest, entry, point)
        skipped, total = await ctx.sources.unit_events(
            entry.unit,
            from_sequence=max(last, start - 1) + 1,
            to_sequence=stream_end,
            limit=MAX_PREVIEWED_EVENTS,
        )
        previews.append(
            UnitRestorePreview(
                unit=entry.unit,
                replay_from_sequence=start,
                replay_to_sequence=last,
                skipped=tuple(skipped),
                skipped_events=total,
            )
        )
    return RestorePreview(snapshot_id=snapshot_id, units=tuple(previews))
