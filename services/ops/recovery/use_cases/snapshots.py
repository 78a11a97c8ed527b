"""The recovery use cases as one object, for the gRPC servicer, the scheduler and the drill.

Each method hands over to the use case module that owns it (take_snapshot, catalogue, restore,
prune); this class adds no logic of its own, beyond telling telemetry when a snapshot was taken
(`trolyao_snapshot_age_seconds`: how much a restore would lose right now).
"""

from __future__ import annotations

from datetime import datetime

from services.ops.recovery.domain.snapshots import (
    PointInTime,
    RestoreReport,
    SnapshotManifest,
    SnapshotScope,
    SnapshotTrigger,
)
from services.ops.recovery.use_cases import catalogue, point_in_time, prune, recover, restore, take_snapshot
from services.ops.recovery.use_cases.context import RecoveryContext
from trolyao.telemetry.instruments import record_snapshot_taken


def observe_snapshot(manifest: SnapshotManifest) -> None:
    """Count `manifest` in the snapshot-age gauge of its scope (a unit, or all units)."""
    unit = manifest.units[0].unit if manifest.scope is SnapshotScope.UNIT and manifest.units else None
    try:
        taken_at = datetime.fromisoformat(manifest.created_at)
    except ValueError:
        return
    record_snapshot_taken(unit=unit, taken_at=taken_at)


class SnapshotHandlers:
    """Take, list, verify and restore snapshots; prune scheduled ones by the retention policy."""

    def __init__(self, context: RecoveryContext) -> None:
        self._ctx = context

    @property
    def storage_kind(self) -> str:
        return self._ctx.storage.kind

    async def take_snapshot(
        self,
        *,
        unit: str | None,
        trigger: SnapshotTrigger = SnapshotTrigger.MANUAL,
        actor: str = "system",
        client_address: str = "",
    ) -> SnapshotManifest:
        """Snapshot one unit (`unit`), or every unit and the ministry-wide buckets (None)."""
        manifest = await take_snapshot.take_snapshot(
            self._ctx, unit=unit, trigger=trigger, actor=actor, client_address=client_address
        )
        observe_snapshot(manifest)
        return manifest

    async def observe_existing_snapshots(self) -> None:
        """At start: the newest snapshot of every scope, so its age is known before the next one."""
        for manifest in await catalogue.list_snapshots(self._ctx):
            observe_snapshot(manifest)

    async def list_snapshots(self, *, unit: str | None = None, limit: int = 0) -> list[SnapshotManifest]:
        """Complete snapshots, newest first; with `unit`, those holding it."""
        return await catalogue.list_snapshots(self._ctx, unit=unit, limit=limit)

    async def load_manifest(self, snapshot_id: str) -> SnapshotManifest:
        """The manifest, checked against its sha256; SnapshotRejected when missing or damaged."""
        return await catalogue.load_manifest(self._ctx, snapshot_id)

    async def verify_snapshot(self, snapshot_id: str, *, unit: str | None = None) -> SnapshotManifest:
        """Check the manifest and every part a restore of `unit` (or of everything) needs."""
        return await catalogue.verify_snapshot(self._ctx, snapshot_id, unit=unit)

    async def restore_snapshot(
        self,
        snapshot_id: str,
        *,
        unit: str | None,
        actor: str,
        client_address: str = "",
        point: PointInTime | None = None,
    ) -> RestoreReport:
        """Verify, load, replay (up to `point`, when given). `unit` None restores every unit of a
        snapshot of everything."""
        return await restore.restore_snapshot(
            self._ctx, snapshot_id, unit=unit, actor=actor, client_address=client_address, point=point
        )

    async def recover_units(
        self, *, units: list[str] | None = None, actor: str, client_address: str = ""
    ) -> recover.RecoveryReport:
        """Restore each unit (None: every live unit) from its newest snapshot, with replay: the way
        back after retrieval lost its data."""
        return await recover.recover_units(self._ctx, units=units, actor=actor, client_address=client_address)

    async def preview_restore(
        self, snapshot_id: str, *, unit: str | None, point: PointInTime | None
    ) -> point_in_time.RestorePreview:
        """What a restore would replay and skip; changes nothing."""
        return await point_in_time.preview_restore(self._ctx, snapshot_id, unit=unit, point=point)

    async def apply_retention(self) -> list[str]:
        """Delete snapshots the policy no longer keeps, and long-abandoned incomplete ones."""
        return await prune.apply_retention(self._ctx)

    async def delete_snapshot(self, snapshot_id: str, *, actor: str, client_address: str = "") -> None:
        """Delete one snapshot (SnapshotRejected when there is none); audited."""
        await prune.delete_snapshot(self._ctx, snapshot_id, actor=actor, client_address=client_address)
