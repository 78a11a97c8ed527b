"""Prune: delete scheduled snapshots the retention policy no longer keeps, and abandoned incomplete ones."""

from __future__ import annotations

import asyncio
from datetime import datetime

from services.ops.recovery.domain.retention import snapshots_to_delete
from services.ops.recovery.domain.snapshots import SnapshotTrigger, snapshot_time
from services.ops.recovery.use_cases.catalogue import list_snapshots
from services.ops.recovery.use_cases.context import RecoveryContext, log, parse_time


async def apply_retention(ctx: RecoveryContext) -> list[str]:
    """Delete scheduled snapshots the policy no longer keeps, and long-abandoned incomplete ones."""
    now = ctx.now()
    scheduled: list[tuple[str, datetime]] = []
    for manifest in await list_snapshots(ctx):
        created = parse_time(manifest.created_at)
        if manifest.trigger is SnapshotTrigger.SCHEDULED and created is not None:
            scheduled.append((manifest.snapshot_id, created))
    doomed = snapshots_to_delete(scheduled, now=now, policy=ctx.config.retention)
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
