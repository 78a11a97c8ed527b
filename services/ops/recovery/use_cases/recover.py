"""Recover every unit after retrieval lost its data: each from its newest snapshot, then replay.

With the embedded Qdrant Edge default, retrieval's shards, registries and unit models live on one
machine's disk. When that disk (or the machine) is lost, NATS still holds the DOCS stream and the
snapshots are in their own store: a new retrieval process starts empty, and this use case brings
every live unit back — the newest complete snapshot that holds the unit (a snapshot of everything
or one of that unit, whichever is newer), restored exactly like `restore.restore_snapshot` with
`unit` set (verify, swap in, write back lost key-values, replay the unit's events since the cut),
`UNITS_AT_ONCE` units at a time.

Units are the live ones (the `units` bucket), so a deleted unit is not brought back from an old
snapshot. A unit with no snapshot is reported, not guessed at: rebuild it from its originals
(`trolyao reindex --unit`). Each unit's restore is audited like any restore (`snapshot.restored`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

from services.ops.recovery.domain.snapshots import (
    InvalidSnapshotRequest,
    RestoreReport,
    SnapshotManifest,
)
from services.ops.recovery.use_cases.catalogue import list_snapshots
from services.ops.recovery.use_cases.context import RecoveryContext, in_bounded_parallel, log
from services.ops.recovery.use_cases.restore import UNITS_AT_ONCE, restore_snapshot
from trolyao.messaging import UNIT_ID_PATTERN


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """Per unit, the restore that brought it back; units no snapshot holds; the whole time."""

    restores: tuple[RestoreReport, ...] = ()
    without_snapshot: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def units(self) -> int:
        return len(self.restores)


def newest_snapshot_by_unit(manifests: Sequence[SnapshotManifest], units: Sequence[str]) -> dict[str, str]:
    """For each unit, the id of the newest manifest holding it (manifests newest first)."""
    chosen: dict[str, str] = {}
    for manifest in manifests:
        for unit in units:
            if unit not in chosen and manifest.holds(unit):
                chosen[unit] = manifest.snapshot_id
    return chosen


async def recover_units(
    ctx: RecoveryContext,
    *,
    units: Sequence[str] | None = None,
    actor: str,
    client_address: str = "",
) -> RecoveryReport:
    """Restore each of `units` (None: every live unit) from its newest snapshot, with replay."""
    for unit in units or ():
        if not UNIT_ID_PATTERN.fullmatch(unit):
            raise InvalidSnapshotRequest(f"mã đơn vị không hợp lệ: {unit!r}")
    started = time.perf_counter()
    wanted = list(units) if units else await ctx.sources.unit_ids()
    chosen = newest_snapshot_by_unit(await list_snapshots(ctx), wanted)

    def restore(unit: str) -> Awaitable[RestoreReport]:
        return restore_snapshot(ctx, chosen[unit], unit=unit, actor=actor, client_address=client_address)

    restores = await in_bounded_parallel([u for u in wanted if u in chosen], restore, limit=UNITS_AT_ONCE)
    report = RecoveryReport(
        restores=tuple(restores),
        without_snapshot=tuple(unit for unit in wanted if unit not in chosen),
        seconds=round(time.perf_counter() - started, 4),
    )
    log.info(
        "units_recovered",
        units=report.units,
        without_snapshot=len(report.without_snapshot),
        seconds=report.seconds,
    )
    return report
