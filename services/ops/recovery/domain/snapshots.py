"""Snapshots as the ops domain sees them: the manifest, its parts, and the rules a restore checks.

No I/O here. A snapshot is a set of parts (per unit: the index archive, the key-value entries, the
originals' manifest; for a snapshot of everything, also the ministry-wide buckets) and a manifest
that lists each part with its size and sha256, written last: a snapshot without a manifest is
incomplete. The manifest's own sha256 is kept beside it, so a damaged manifest is noticed too.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

SNAPSHOT_SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
MANIFEST_DIGEST_NAME = "manifest.json.sha256"
SNAPSHOT_ID_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
SNAPSHOT_ID_TOKEN_BYTES = 3
SNAPSHOT_ID_TIME_CHARS = len("20260101T120000Z")
UNIT_ID_MARKER = "-unit-"
UNITS_DIR = "units"
BUCKETS_DIR = "buckets"
INDEX_PART = "index.tar.gz"
KV_PART = "key-values.json"
ORIGINALS_PART = "originals.json"


class PartKind(StrEnum):
    UNIT_INDEX = "unit_index"
    UNIT_KV = "unit_kv"
    UNIT_ORIGINALS = "unit_originals"
    BUCKET = "bucket"


class SnapshotScope(StrEnum):
    UNIT = "unit"
    ALL = "all"


class SnapshotTrigger(StrEnum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"
    DRILL = "drill"


class RejectionCode(StrEnum):
    NOT_FOUND = "snapshot_not_found"
    INCOMPLETE = "snapshot_incomplete"
    CORRUPTED = "snapshot_corrupted"
    INCOMPATIBLE = "snapshot_incompatible"
    UNIT_MISSING = "unit_not_in_snapshot"


class SnapshotRejected(Exception):
    """The snapshot cannot be used (missing, incomplete, damaged, or for another setup). `message`
    is the Vietnamese reason shown to the operator; nothing live was touched."""

    def __init__(self, code: RejectionCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message


class InvalidSnapshotRequest(ValueError):
    """The request names no unit and not all units, or an invalid unit."""


class RestoreBusy(RuntimeError):
    """A restore of the same unit is already running."""


@dataclass(frozen=True, slots=True)
class SnapshotPart:
    name: str
    kind: PartKind
    unit: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class UnitSnapshot:
    unit: str
    stream_sequence: int
    replay_from_sequence: int
    documents: int
    chunks: int
    originals: int
    index_format: str


@dataclass(frozen=True, slots=True)
class SnapshotManifest:
    snapshot_id: str
    scope: SnapshotScope
    created_at: str
    embedding_model: str
    stream_sequence: int
    # When the DOCS stream was created: a different value at restore time means the stream was
    # recreated and its sequences start again.
    stream_created: str
    trigger: SnapshotTrigger
    storage: str
    units: tuple[UnitSnapshot, ...] = ()
    parts: tuple[SnapshotPart, ...] = ()
    seconds: float = 0.0
    schema_version: int = SNAPSHOT_SCHEMA_VERSION

    @property
    def size_bytes(self) -> int:
        return sum(part.size for part in self.parts)

    def unit(self, unit: str) -> UnitSnapshot | None:
        return next((entry for entry in self.units if entry.unit == unit), None)

    def holds(self, unit: str) -> bool:
        return self.unit(unit) is not None

    def parts_for(self, unit: str | None) -> list[SnapshotPart]:
        """The parts a restore of `unit` needs (every part when None)."""
        if unit is None:
            return list(self.parts)
        return [part for part in self.parts if part.unit == unit]

    def part(self, name: str) -> SnapshotPart | None:
        return next((part for part in self.parts if part.name == name), None)

    def only_unit(self, unit: str) -> SnapshotManifest:
        """The manifest as a credential limited to `unit` may see it (no other unit's entries)."""
        return replace(
            self,
            units=tuple(entry for entry in self.units if entry.unit == unit),
            parts=tuple(part for part in self.parts if part.unit == unit),
        )

    def to_json(self) -> bytes:
        raw: dict[str, Any] = asdict(self)
        return json.dumps(raw, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> SnapshotManifest:
        """Parse a manifest; SnapshotRejected(CORRUPTED) when it is not one."""
        try:
            raw: dict[str, Any] = json.loads(data)
            return cls(
                snapshot_id=str(raw["snapshot_id"]),
                scope=SnapshotScope(raw["scope"]),
                created_at=str(raw["created_at"]),
                embedding_model=str(raw["embedding_model"]),
                stream_sequence=int(raw["stream_sequence"]),
                stream_created=str(raw.get("stream_created", "")),
                trigger=SnapshotTrigger(raw.get("trigger", SnapshotTrigger.MANUAL.value)),
                storage=str(raw.get("storage", "")),
                units=tuple(UnitSnapshot(**entry) for entry in raw.get("units", [])),
                parts=tuple(
                    SnapshotPart(
                        name=str(part["name"]),
                        kind=PartKind(part["kind"]),
                        unit=str(part.get("unit", "")),
                        size=int(part["size"]),
                        sha256=str(part["sha256"]),
                    )
                    for part in raw.get("parts", [])
                ),
                seconds=float(raw.get("seconds", 0.0)),
                schema_version=int(raw["schema_version"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise SnapshotRejected(
                RejectionCode.CORRUPTED, "Tệp kê khai (manifest) của bản chụp bị hỏng, không đọc được."
            ) from error


def new_snapshot_id(now: datetime, scope: SnapshotScope, unit: str | None = None) -> str:
    """`20260101T120000Z-all-1a2b3c` or `20260101T120000Z-unit-<unit>-1a2b3c`: sorts by time."""
    stamp = now.astimezone(UTC).strftime(SNAPSHOT_ID_TIME_FORMAT)
    token = secrets.token_hex(SNAPSHOT_ID_TOKEN_BYTES)
    middle = "all" if scope is SnapshotScope.ALL else f"unit-{unit}"
    return f"{stamp}-{middle}-{token}"


def snapshot_time(snapshot_id: str) -> datetime | None:
    """The time encoded in a snapshot id, or None when it is not one of ours."""
    try:
        return datetime.strptime(snapshot_id[:16], SNAPSHOT_ID_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def snapshot_unit(snapshot_id: str) -> str | None:
    """The unit of a unit snapshot's id (`…-unit-<unit>-<token>`); None for any other id."""
    middle = snapshot_id[SNAPSHOT_ID_TIME_CHARS:]
    if not middle.startswith(UNIT_ID_MARKER):
        return None
    unit, _, token = middle[len(UNIT_ID_MARKER) :].rpartition("-")
    return unit if unit and len(token) == 2 * SNAPSHOT_ID_TOKEN_BYTES else None


class SnapshotLimitReached(Exception):
    """A unit took as many on-demand snapshots as the last hour allows."""

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


def unit_part_name(unit: str, part: str) -> str:
    return f"{UNITS_DIR}/{unit}/{part}"


def bucket_part_name(bucket: str) -> str:
    return f"{BUCKETS_DIR}/{bucket}.json"


def manifest_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_manifest_digest(data: bytes, recorded: str) -> None:
    """The manifest must match the sha256 written beside it."""
    if not recorded.strip():
        raise SnapshotRejected(
            RejectionCode.INCOMPLETE, "Bản chụp thiếu tổng kiểm của tệp kê khai (manifest.json.sha256)."
        )
    if manifest_digest(data) != recorded.split()[0].strip():
        raise SnapshotRejected(
            RejectionCode.CORRUPTED,
            "Tệp kê khai (manifest) của bản chụp không khớp tổng kiểm: đã bị sửa hoặc hỏng.",
        )


def check_part(part: SnapshotPart, *, size: int | None, sha256: str | None) -> None:
    """Compare a part as stored (None: missing) with the manifest."""
    if size is None or sha256 is None:
        raise SnapshotRejected(RejectionCode.INCOMPLETE, f"Bản chụp thiếu phần '{part.name}'.")
    if size != part.size:
        raise SnapshotRejected(
            RejectionCode.INCOMPLETE if size < part.size else RejectionCode.CORRUPTED,
            f"Phần '{part.name}' của bản chụp có {size} byte, tệp kê khai ghi {part.size} byte"
            " (bị cắt cụt hoặc bị thay đổi).",
        )
    if sha256 != part.sha256:
        raise SnapshotRejected(
            RejectionCode.CORRUPTED,
            f"Phần '{part.name}' của bản chụp không khớp tổng kiểm SHA-256: dữ liệu đã bị hỏng.",
        )


def check_complete(manifest: SnapshotManifest, unit: str | None) -> list[SnapshotPart]:
    """The parts a restore of `unit` (everything when None) needs; raises when any is not listed."""
    if manifest.schema_version > SNAPSHOT_SCHEMA_VERSION:
        raise SnapshotRejected(
            RejectionCode.INCOMPATIBLE,
            f"Bản chụp theo lược đồ phiên bản {manifest.schema_version}, hệ thống này chỉ đọc được"
            f" tới phiên bản {SNAPSHOT_SCHEMA_VERSION}.",
        )
    units = [unit] if unit is not None else [entry.unit for entry in manifest.units]
    for name in units:
        if not manifest.holds(name):
            raise SnapshotRejected(
                RejectionCode.UNIT_MISSING, f"Bản chụp không có dữ liệu của đơn vị '{name}'."
            )
        listed = {part.kind for part in manifest.parts_for(name)}
        if PartKind.UNIT_INDEX not in listed:
            raise SnapshotRejected(
                RejectionCode.INCOMPLETE, f"Bản chụp thiếu phần chỉ mục của đơn vị '{name}'."
            )
    return manifest.parts_for(unit)


def replay_start(recorded_sequence: int, ack_floor: int | None) -> int:
    """First DOCS sequence a restore must replay for a unit.

    `recorded_sequence`: the highest sequence the unit's index had applied at the cut.
    `ack_floor`: the ingest consumer's ack floor read before the cut (every event at or below it was
    handled, so is in the cut). Events can be applied out of order (retries), so the earlier of the
    two bounds is taken; replaying an event the cut already holds is harmless (idempotent).
    """
    if ack_floor is None:
        return recorded_sequence + 1
    return min(recorded_sequence, ack_floor) + 1


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    from_sequence: int
    to_sequence: int
    complete: bool
    note: str = ""


def plan_replay(
    unit: UnitSnapshot,
    *,
    manifest_stream_created: str,
    stream_created: str,
    first_sequence: int,
    last_sequence: int,
) -> ReplayPlan:
    """Which events to replay after loading `unit`, and whether the stream still holds them all."""
    start = unit.replay_from_sequence
    if manifest_stream_created and stream_created and manifest_stream_created != stream_created:
        return ReplayPlan(
            from_sequence=max(first_sequence, 1),
            to_sequence=last_sequence,
            complete=False,
            note="Luồng sự kiện văn bản đã được tạo lại sau bản chụp: phát lại toàn bộ sự kiện hiện có;"
            " các thay đổi trước khi tạo lại luồng có thể không còn.",
        )
    if last_sequence and first_sequence > start and last_sequence >= start:
        return ReplayPlan(
            from_sequence=first_sequence,
            to_sequence=last_sequence,
            complete=False,
            note=f"Luồng sự kiện chỉ còn giữ từ số thứ tự {first_sequence} (cần từ {start}):"
            " các thay đổi cũ hơn đã hết hạn lưu giữ.",
        )
    return ReplayPlan(from_sequence=start, to_sequence=last_sequence, complete=True)


@dataclass(frozen=True, slots=True)
class RestorePhase:
    name: str
    seconds: float


@dataclass(frozen=True, slots=True)
class UnitRestoreReport:
    unit: str
    documents: int
    chunks: int
    replay_from_sequence: int
    replay_to_sequence: int
    replayed_events: int
    replay_complete: bool
    replay_note: str = ""
    missing_originals: tuple[str, ...] = ()
    restored_key_values: int = 0
    phases: tuple[RestorePhase, ...] = ()
    skipped_events: int = 0


@dataclass(frozen=True, slots=True)
class PointInTime:
    """How far a restore replays: up to a DOCS stream sequence (inclusive), or only events stored
    before a time; no bound at all by default. With both, the earlier wins."""

    up_to_sequence: int = 0
    up_to_time: datetime | None = None

    @property
    def bounded(self) -> bool:
        return self.up_to_sequence > 0 or self.up_to_time is not None

    def last_sequence(self, to_sequence: int, *, first_at_or_after_time: int | None) -> int:
        """The last sequence to replay, given the plan's end and the first sequence the stream stored
        at or after `up_to_time` (None: none was, so the time bounds nothing)."""
        last = to_sequence
        if self.up_to_sequence > 0:
            last = min(last, self.up_to_sequence)
        if self.up_to_time is not None and first_at_or_after_time is not None:
            last = min(last, first_at_or_after_time - 1)
        return last


@dataclass(frozen=True, slots=True)
class RestoreReport:
    snapshot_id: str
    units: tuple[UnitRestoreReport, ...] = ()
    restored_buckets: tuple[str, ...] = ()
    phases: tuple[RestorePhase, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class OriginalEntry:
    """One original in the object store, as the snapshot lists it."""

    name: str
    size: int
    digest: str


def missing_originals(listed: Iterable[OriginalEntry], live: Mapping[str, OriginalEntry]) -> list[str]:
    """Names listed in the snapshot that the store no longer holds, or holds with other content."""
    missing = []
    for entry in listed:
        current = live.get(entry.name)
        if current is None or (entry.digest and current.digest and current.digest != entry.digest):
            missing.append(entry.name)
    return sorted(missing)


@dataclass(frozen=True, slots=True)
class KeyValueShare:
    """A bucket's entries (all of it, or one unit's keys) as a snapshot part holds them."""

    bucket: str
    entries: Mapping[str, bytes] = field(default_factory=dict)


def entries_to_write_back(snapshot: Mapping[str, bytes], live_keys: Iterable[str]) -> dict[str, bytes]:
    """What a restore writes to a bucket (or a unit's share of one): the snapshot's entries when the
    live share is empty (lost), and nothing otherwise. Live entries are never overwritten or merged,
    so a restore cannot resurrect a revoked key or a deleted FAQ entry, nor roll back a password."""
    if any(True for _ in live_keys):
        return {}
    return dict(snapshot)
