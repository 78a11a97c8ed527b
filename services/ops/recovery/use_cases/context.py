"""What every recovery use case works with: the snapshot ports, the knobs and the clock.

The use cases are plain async functions over a `RecoveryContext` (no transport types here).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from services.ops.recovery.domain.retention import RetentionPolicy
from services.ops.recovery.domain.snapshot_ports import (
    EventReplayer,
    SnapshotAudit,
    SnapshotSources,
    SnapshotStorage,
    UnitArchives,
)
from trolyao.logs import get_logger

log = get_logger("ops")

BLOCK_BYTES = 1024 * 1024
INCOMPLETE_GRACE_SECONDS = 3_600
SCHEDULER_ACTOR = "scheduler"

ACTION_TAKEN = "snapshot.taken"
ACTION_RESTORED = "snapshot.restored"
ACTION_RESTORE_REFUSED = "snapshot.restore_refused"
ACTION_RESTORE_FAILED = "snapshot.restore_failed"
ACTION_DELETED = "snapshot.deleted"
OUTCOME_SUCCESS = "success"
OUTCOME_FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class SnapshotConfig:
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    incomplete_grace_seconds: int = INCOMPLETE_GRACE_SECONDS


class RecoveryContext:
    """The snapshot ports and knobs, and the units being restored right now (one restore each)."""

    def __init__(
        self,
        *,
        storage: SnapshotStorage,
        archives: UnitArchives,
        sources: SnapshotSources,
        replayer: EventReplayer,
        audit: SnapshotAudit,
        config: SnapshotConfig | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.storage = storage
        self.archives = archives
        self.sources = sources
        self.replayer = replayer
        self.audit = audit
        self.config = config or SnapshotConfig()
        self.now = now
        self.restoring: set[str] = set()
        # One on-demand snapshot of a unit at a time, so its hourly limit cannot be raced.
        self.on_demand_locks: dict[str, asyncio.Lock] = {}


Item = TypeVar("Item")
Result = TypeVar("Result")


async def in_bounded_parallel(
    items: Sequence[Item], work: Callable[[Item], Awaitable[Result]], *, limit: int
) -> list[Result]:
    """`work` on every item, at most `limit` at once; results in the order of `items`. The first
    failure cancels the rest (work already done stays done) and is raised as it is."""
    slots = asyncio.Semaphore(limit)

    async def one(item: Item) -> Result:
        async with slots:
            return await work(item)

    tasks = [asyncio.ensure_future(one(item)) for item in items]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def parse_time(text: str) -> datetime | None:
    """An ISO time from a manifest, as an aware datetime (UTC when it names no zone); None when unreadable."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
