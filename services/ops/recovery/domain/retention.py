"""Which snapshots to keep: a pure retention policy, and when the next scheduled one is due.

The policy keeps the newest snapshot of each hour for the last `hourly_hours` hours, the newest of
each day for the last `daily_days` days, and always the `keep_last` newest ones (so a stopped
scheduler never prunes its way to nothing). Everything else may be deleted.

On-demand snapshots (manual and drill) are kept `on_demand_days` days, and at most the
`on_demand_keep_last` newest of each unit (or of "everything"); a unit may take at most
`on_demand_per_hour` of them in any hour (`on_demand_retry_after`), so no one fills the disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_HOURLY_HOURS = 24
DEFAULT_DAILY_DAYS = 30
DEFAULT_KEEP_LAST = 2
DEFAULT_ON_DEMAND_DAYS = 7
DEFAULT_ON_DEMAND_KEEP_LAST = 5
DEFAULT_ON_DEMAND_PER_HOUR = 4
SECONDS_PER_HOUR = 3600
HOUR_FORMAT = "%Y-%m-%dT%H"
DAY_FORMAT = "%Y-%m-%d"


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    hourly_hours: int = DEFAULT_HOURLY_HOURS
    daily_days: int = DEFAULT_DAILY_DAYS
    keep_last: int = DEFAULT_KEEP_LAST
    on_demand_days: int = DEFAULT_ON_DEMAND_DAYS
    on_demand_keep_last: int = DEFAULT_ON_DEMAND_KEEP_LAST
    on_demand_per_hour: int = DEFAULT_ON_DEMAND_PER_HOUR

    def __post_init__(self) -> None:
        if self.hourly_hours < 0 or self.daily_days < 0 or self.keep_last < 1:
            raise ValueError("retention needs hourly_hours >= 0, daily_days >= 0 and keep_last >= 1")
        if self.on_demand_days < 0 or self.on_demand_keep_last < 1 or self.on_demand_per_hour < 1:
            raise ValueError("on-demand retention needs days >= 0, keep_last >= 1 and per_hour >= 1")


def snapshots_to_keep(
    snapshots: Iterable[tuple[str, datetime]], *, now: datetime, policy: RetentionPolicy
) -> set[str]:
    """Ids of the snapshots the policy keeps, from (id, created at) pairs (aware datetimes)."""
    newest_first = sorted(snapshots, key=lambda item: (item[1], item[0]), reverse=True)
    keep = {snapshot_id for snapshot_id, _ in newest_first[: policy.keep_last]}
    hourly_since = now - timedelta(hours=policy.hourly_hours)
    daily_since = now - timedelta(days=policy.daily_days)
    hours_seen: set[str] = set()
    days_seen: set[str] = set()
    for snapshot_id, created in newest_first:
        if created > now:
            keep.add(snapshot_id)  # clock skew: never prune what looks like the future
            continue
        hour = created.strftime(HOUR_FORMAT)
        if created >= hourly_since and hour not in hours_seen:
            hours_seen.add(hour)
            keep.add(snapshot_id)
        day = created.strftime(DAY_FORMAT)
        if created >= daily_since and day not in days_seen:
            days_seen.add(day)
            keep.add(snapshot_id)
    return keep


def snapshots_to_delete(
    snapshots: Iterable[tuple[str, datetime]], *, now: datetime, policy: RetentionPolicy
) -> list[str]:
    """The complement of `snapshots_to_keep`, oldest first."""
    listed = sorted(snapshots, key=lambda item: (item[1], item[0]))
    keep = snapshots_to_keep(listed, now=now, policy=policy)
    return [snapshot_id for snapshot_id, _ in listed if snapshot_id not in keep]


def snapshot_due(last_taken: datetime | None, *, now: datetime, interval_seconds: int) -> bool:
    """True when a scheduled snapshot should be taken now (never when scheduling is off)."""
    if interval_seconds <= 0:
        return False
    if last_taken is None:
        return True
    return (now - last_taken).total_seconds() >= interval_seconds


def on_demand_to_delete(
    snapshots: Iterable[tuple[str, datetime, str]], *, now: datetime, policy: RetentionPolicy
) -> list[str]:
    """On-demand snapshots, as (id, created at, unit or "" for everything), the policy drops: older
    than `on_demand_days`, or past the `on_demand_keep_last` newest of their unit. Oldest first."""
    since = now - timedelta(days=policy.on_demand_days)
    by_unit: dict[str, list[tuple[str, datetime]]] = {}
    for snapshot_id, created, unit in snapshots:
        by_unit.setdefault(unit, []).append((snapshot_id, created))
    doomed: list[tuple[datetime, str]] = []
    for items in by_unit.values():
        newest_first = sorted(items, key=lambda item: (item[1], item[0]), reverse=True)
        for position, (snapshot_id, created) in enumerate(newest_first):
            if created > now:
                continue  # clock skew: never prune what looks like the future
            if position >= policy.on_demand_keep_last or created < since:
                doomed.append((created, snapshot_id))
    return [snapshot_id for _, snapshot_id in sorted(doomed)]


def on_demand_retry_after(taken: Iterable[datetime], *, now: datetime, policy: RetentionPolicy) -> int:
    """Seconds until one more on-demand snapshot of a unit is allowed, given when its recent ones
    were taken; 0 when it is allowed now."""
    hour_ago = now - timedelta(seconds=SECONDS_PER_HOUR)
    recent = sorted(moment for moment in taken if moment > hour_ago)
    if len(recent) < policy.on_demand_per_hour:
        return 0
    # The oldest of the last `per_hour` must leave the window first.
    frees_at = recent[-policy.on_demand_per_hour] + timedelta(seconds=SECONDS_PER_HOUR)
    return max(1, int((frees_at - now).total_seconds()) + 1)
