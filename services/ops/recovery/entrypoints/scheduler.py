"""Scheduled snapshots: a loop in the ops process that snapshots everything every
`TROLYAO_OPS_SNAPSHOT_SCHEDULE_SECONDS` and then prunes scheduled snapshots by the retention policy.

The first scheduled snapshot comes one interval after start (or after the newest scheduled one
found in storage), so restarts do not pile snapshots up. A failed snapshot is logged and tried
again at the next check.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

from services.ops.recovery.domain.retention import snapshot_due
from services.ops.recovery.domain.snapshots import SnapshotTrigger
from services.ops.recovery.use_cases.context import SCHEDULER_ACTOR, parse_time
from services.ops.recovery.use_cases.snapshots import SnapshotHandlers
from trolyao.logs import get_logger

log = get_logger("ops")

DEFAULT_CHECK_SECONDS = 60.0


class SnapshotScheduler:
    def __init__(
        self,
        handlers: SnapshotHandlers,
        *,
        interval_seconds: int,
        check_seconds: float = DEFAULT_CHECK_SECONDS,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._handlers = handlers
        self._interval = interval_seconds
        self._check = min(check_seconds, max(float(interval_seconds), 1.0))
        self._now = now
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._interval > 0 and self._task is None:
            self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _last_scheduled(self) -> datetime:
        for manifest in await self._handlers.list_snapshots():
            if manifest.trigger is SnapshotTrigger.SCHEDULED:
                created = parse_time(manifest.created_at)
                if created is not None:
                    return created
        return self._now()

    async def run(self) -> None:
        log.info("snapshot_scheduler_started", interval_seconds=self._interval)
        last = await self._last_scheduled()
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._check)
            if self._stopping.is_set():
                break
            if not snapshot_due(last, now=self._now(), interval_seconds=self._interval):
                continue
            last = self._now()
            try:
                await self._handlers.take_snapshot(
                    unit=None, trigger=SnapshotTrigger.SCHEDULED, actor=SCHEDULER_ACTOR
                )
                await self._handlers.apply_retention()
            except Exception:
                log.exception("scheduled_snapshot_failed")
