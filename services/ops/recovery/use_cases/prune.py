"""Prune: delete snapshots the retention policy no longer keeps (scheduled and on-demand), and
abandoned incomplete ones; delete one snapshot on request."""

from __future__ import annotations

import asyncio
from datetime import datetime

from services.ops.recovery.domain.retention import on_demand_to_delete, snapshots_to_delete
from services.ops.recovery.domain.snapshots import (
    RejectionCode,
    SnapshotRejected,
    SnapshotScope,
    SnapshotTrigger,
    snapshot_time,
)
from services.ops.recovery.use_cases.catalogue import list_snapshots
from services.ops.recovery.use_cases.context import (
    ACTION_DELETED,
    OUTCOME_SUCCESS,
    RecoveryContext,
    log,
    parse_time,
)


async def apply_retention(ctx: RecoveryContext) -> list[str]:
    """Delete snapshots the policy no longer keeps, and long-abandoned incomplete ones."""
    now = ctx.now()
    scheduled: list[tuple[str, datetime]] = []
    on_demand: list[tuple[str, datetime, str]] = []
    for manifest in await list_snapshots(ctx):
        created = parse_time(manifest.created_at)
        if created is None:
            continue
        if manifest.trigger is SnapshotTrigger.SCHEDULED:
            scheduled.append((manifest.snapshot_id, created))
        else:
            unit = manifest.units[0].unit if manifest.scope is SnapshotScope.UNIT and manifest.units else ""
            on_demand.append((manifest.snapshot_id, created, unit))
    doomed = snapshots_to_delete(scheduled, now=now, policy=ctx.config.retention)
    doomed += on_demand_to_delete(on_demand, now=now, policy=ctx.config.retention)
    complete = {manifest.snapshot_id for manifest in await list_snapshots(ctx)}
    for snapshot_id in await asyncio.to_thread(ctx.storage.snapshot_ids):
        taken = snapshot_time(snapshot_id)
        if (
            snapshot_id not in complete
            and taken is not None
            and (now - taken).total_seconds() > ctx.config.incomplete_grace_seconds
        ):
            doomed.append(snapshot_id)
    for snapshot_id in doomed:
        await asyncio.to_thread(ctx.storage.delete, snapshot_id)
        log.info("snapshot_pruned", snapshot_id=snapshot_id)
    return doomed


async def delete_snapshot(
    ctx: RecoveryContext, snapshot_id: str, *, actor: str, client_address: str = ""
) -> None:
    """Delete one snapshot, complete or not (SnapshotRejected(NOT_FOUND) when there is none); audited."""
    known = await asyncio.to_thread(ctx.storage.snapshot_ids)
    if not snapshot_id or snapshot_id not in known:
        raise SnapshotRejected(RejectionCode.NOT_FOUND, f"Không tìm thấy bản chụp '{snapshot_id}'.")
    await asyncio.to_thread(ctx.storage.delete, snapshot_id)
    log.info("snapshot_deleted", snapshot_id=snapshot_id)
    await ctx.audit.record(
        ACTION_DELETED, OUTCOME_SUCCESS, actor=actor, target=snapshot_id, client_address=client_address
    )
