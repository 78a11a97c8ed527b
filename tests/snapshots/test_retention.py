"""The retention policy of scheduled snapshots, and when the next one is due (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.ops.recovery.domain.retention import (
    RetentionPolicy,
    on_demand_retry_after,
    on_demand_to_delete,
    snapshot_due,
    snapshots_to_delete,
    snapshots_to_keep,
)
from services.ops.recovery.domain.snapshots import PointInTime

pytestmark = pytest.mark.timeout(10)

NOW = datetime(2026, 3, 31, 12, 30, tzinfo=UTC)


def hourly_for(days: int) -> list[tuple[str, datetime]]:
    """One snapshot at minute 5 of every hour, for `days` days back from NOW."""
    first = NOW - timedelta(days=days)
    count = days * 24 + 1
    return [(f"s{index:05d}", (first + timedelta(hours=index)).replace(minute=5)) for index in range(count)]


def test_hourly_for_a_day_then_daily_for_a_month() -> None:
    snapshots = hourly_for(45)
    keep = snapshots_to_keep(snapshots, now=NOW, policy=RetentionPolicy(hourly_hours=24, daily_days=30))
    kept = sorted(created for snapshot_id, created in snapshots if snapshot_id in keep)
    recent = [created for created in kept if created >= NOW - timedelta(hours=24)]
    assert len(recent) == 24  # one per hour for the last day
    older = [created for created in kept if created < NOW - timedelta(hours=24)]
    assert len({created.date() for created in older}) == len(older)  # at most one per day
    assert min(kept) >= NOW - timedelta(days=30)  # nothing older than a month
    assert len(older) == 29


def test_newest_of_each_hour_and_day_is_the_one_kept() -> None:
    day = NOW.replace(hour=0, minute=0)
    snapshots = [("a", day - timedelta(days=1, minutes=-10)), ("b", day - timedelta(days=1, minutes=-50))]
    keep = snapshots_to_keep(
        snapshots, now=NOW, policy=RetentionPolicy(hourly_hours=0, daily_days=7, keep_last=1)
    )
    assert keep == {"b"}


def test_keep_last_protects_the_newest_even_when_old() -> None:
    old = [("x", NOW - timedelta(days=400)), ("y", NOW - timedelta(days=300))]
    policy = RetentionPolicy(hourly_hours=24, daily_days=30, keep_last=1)
    assert snapshots_to_keep(old, now=NOW, policy=policy) == {"y"}
    assert snapshots_to_delete(old, now=NOW, policy=policy) == ["x"]


def test_future_snapshots_are_never_pruned() -> None:
    snapshots = [("future", NOW + timedelta(hours=2)), ("now", NOW)]
    assert snapshots_to_delete(snapshots, now=NOW, policy=RetentionPolicy(keep_last=1)) == []


def test_invalid_policy_is_refused() -> None:
    with pytest.raises(ValueError):
        RetentionPolicy(keep_last=0)


def test_snapshot_due() -> None:
    assert snapshot_due(None, now=NOW, interval_seconds=3600)
    assert not snapshot_due(NOW - timedelta(minutes=59), now=NOW, interval_seconds=3600)
    assert snapshot_due(NOW - timedelta(minutes=60), now=NOW, interval_seconds=3600)
    assert not snapshot_due(None, now=NOW, interval_seconds=0)


def test_on_demand_snapshots_are_kept_a_week_and_the_newest_five_per_unit() -> None:
    policy = RetentionPolicy(on_demand_days=7, on_demand_keep_last=5)
    recent_a = [(f"a{n}", NOW - timedelta(hours=n), "a") for n in range(8)]
    old_b = [("b-old", NOW - timedelta(days=8), "b"), ("b-new", NOW - timedelta(days=1), "b")]
    everything = [("all-1", NOW - timedelta(days=2), "")]
    doomed = on_demand_to_delete(recent_a + old_b + everything, now=NOW, policy=policy)
    assert doomed == ["b-old", "a7", "a6", "a5"]


def test_a_unit_waits_until_its_oldest_snapshot_of_the_hour_leaves_the_window() -> None:
    policy = RetentionPolicy(on_demand_per_hour=3)
    taken = [NOW - timedelta(minutes=50), NOW - timedelta(minutes=10), NOW - timedelta(minutes=1)]
    assert on_demand_retry_after(taken[1:], now=NOW, policy=policy) == 0
    assert on_demand_retry_after(taken, now=NOW, policy=policy) == 10 * 60 + 1
    assert on_demand_retry_after([NOW - timedelta(hours=2)] * 5, now=NOW, policy=policy) == 0


def test_a_point_in_time_bound_takes_the_earlier_of_sequence_and_time() -> None:
    assert PointInTime().last_sequence(90, first_at_or_after_time=None) == 90
    assert not PointInTime().bounded
    assert PointInTime(up_to_sequence=40).last_sequence(90, first_at_or_after_time=None) == 40
    assert PointInTime(up_to_sequence=120).last_sequence(90, first_at_or_after_time=None) == 90
    at_noon = PointInTime(up_to_time=NOW)
    assert at_noon.bounded
    assert at_noon.last_sequence(90, first_at_or_after_time=51) == 50
    assert at_noon.last_sequence(90, first_at_or_after_time=None) == 90  # nothing stored since: no bound
    both = PointInTime(up_to_sequence=30, up_to_time=NOW)
    assert both.last_sequence(90, first_at_or_after_time=51) == 30
