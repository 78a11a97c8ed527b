"""Snapshot and restore handlers: plain async methods over the snapshot ports (no transport types).

Take (one unit, or everything): for each unit, read the ingest consumer's ack floor, have retrieval
export a consistent cut of the unit's index, store it, then the unit's key-value entries and the
manifest of its originals; for everything, also the ministry-wide buckets; write the manifest last.

Restore: load the manifest and check its own sha256, check that every part the restore needs is
listed, present, of the listed size and sha256, and that the snapshot's embedding model is the one
retrieval runs; only then touch anything. Per unit: import the index (retrieval swaps atomically,
and checks the sha256 of what it received once more), write back key-value entries that were lost,
compare the originals, then ask ingest to replay the unit's document events after the snapshot's
stream sequence and wait for it, so every acknowledged change is back. Audited either way.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from services.ops.identity.adapters.security_layout import (
    ACCOUNTS_BUCKET,
    SECURITY_POLICY_BUCKET,
    SIGNING_KEYS_BUCKET,
)
from services.ops.recovery.domain.retention import RetentionPolicy, snapshots_to_delete
from services.ops.recovery.domain.snapshot_ports import (
    EventReplayer,
    PartMissing,
    ReplayOutcome,
    SnapshotAudit,
    SnapshotSources,
    SnapshotStorage,
    UnitArchiveHeader,
    UnitArchives,
)
from services.ops.recovery.domain.snapshots import (
    INDEX_PART,
    KV_PART,
    MANIFEST_DIGEST_NAME,
    MANIFEST_NAME,
    ORIGINALS_PART,
    InvalidSnapshotRequest,
    KeyValueShare,
    OriginalEntry,
    PartKind,
    RejectionCode,
    RestoreBusy,
    RestorePhase,
    RestoreReport,
    SnapshotManifest,
    SnapshotPart,
    SnapshotRejected,
    SnapshotScope,
    SnapshotTrigger,
    UnitRestoreReport,
    UnitSnapshot,
    bucket_part_name,
    check_complete,
    check_manifest_digest,
    check_part,
    manifest_digest,
    missing_originals,
    new_snapshot_id,
    plan_replay,
    replay_start,
    snapshot_time,
    unit_part_name,
)
from trolyao.logs import get_logger
from trolyao.messaging import API_KEYS_BUCKET, UNIT_ID_PATTERN, UNITS_BUCKET

log = get_logger("ops")

BLOCK_BYTES = 1024 * 1024
# Ministry-wide buckets a snapshot of everything keeps. Sessions, login challenges, throttling and
# conversations are left out: they expire anyway, and bringing back a revoked session is wrong.
MINISTRY_BUCKETS = (
    UNITS_BUCKET,
    API_KEYS_BUCKET,
    ACCOUNTS_BUCKET,
    SIGNING_KEYS_BUCKET,
    SECURITY_POLICY_BUCKET,
)
INCOMPLETE_GRACE_SECONDS = 3_600
SCHEDULER_ACTOR = "scheduler"

ACTION_TAKEN = "snapshot.taken"
ACTION_RESTORED = "snapshot.restored"
ACTION_RESTORE_REFUSED = "snapshot.restore_refused"
ACTION_RESTORE_FAILED = "snapshot.restore_failed"
OUTCOME_SUCCESS = "success"
OUTCOME_FAILURE = "failure"

Result = TypeVar("Result")


@dataclass(frozen=True, slots=True)
class SnapshotConfig:
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    incomplete_grace_seconds: int = INCOMPLETE_GRACE_SECONDS


def _kv_json(shares: list[KeyValueShare]) -> bytes:
    body = {
        share.bucket: {
            key: base64.b64encode(value).decode("ascii") for key, value in sorted(share.entries.items())
        }
        for share in shares
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")


def _kv_from_json(data: bytes) -> list[KeyValueShare]:
    raw: dict[str, dict[str, str]] = json.loads(data)
    return [
        KeyValueShare(bucket=bucket, entries={key: base64.b64decode(value) for key, value in entries.items()})
        for bucket, entries in raw.items()
    ]


def _originals_json(entries: list[OriginalEntry]) -> bytes:
    body = [
        {"name": e.name, "size": e.size, "digest": e.digest} for e in sorted(entries, key=lambda e: e.name)
    ]
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def _originals_from_json(data: bytes) -> list[OriginalEntry]:
    return [
        OriginalEntry(name=str(e["name"]), size=int(e["size"]), digest=str(e["digest"]))
        for e in json.loads(data)
    ]


def _now_iso(now: datetime) -> str:
    return now.isoformat(timespec="milliseconds")


class _Phases:
    """Times each phase of a restore."""

    def __init__(self) -> None:
        self.items: list[RestorePhase] = []

    async def run(self, name: str, work: Callable[[], Awaitable[Result]]) -> Result:
        started = time.perf_counter()
        try:
            return await work()
        finally:
            self.items.append(RestorePhase(name=name, seconds=round(time.perf_counter() - started, 4)))


class SnapshotHandlers:
    """Take, list, verify and restore snapshots; prune scheduled ones by the retention policy."""

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
        self._storage = storage
        self._archives = archives
        self._sources = sources
        self._replayer = replayer
        self._audit = audit
        self._config = config or SnapshotConfig()
        self._now = now
        self._restoring: set[str] = set()

    @property
    def storage_kind(self) -> str:
        return self._storage.kind

    # ---------------------------------------------------------------- take

    async def take_snapshot(
        self,
        *,
        unit: str | None,
        trigger: SnapshotTrigger = SnapshotTrigger.MANUAL,
        actor: str = "system",
        client_address: str = "",
    ) -> SnapshotManifest:
        """Snapshot one unit (`unit`), or every unit and the ministry-wide buckets (None)."""
        if unit is not None and not UNIT_ID_PATTERN.fullmatch(unit):
            raise InvalidSnapshotRequest(f"mã đơn vị không hợp lệ: {unit!r}")
        started = time.perf_counter()
        now = self._now()
        scope = SnapshotScope.ALL if unit is None else SnapshotScope.UNIT
        snapshot_id = new_snapshot_id(now, scope, unit)
        stream = await self._sources.docs_stream()
        units = [unit] if unit is not None else await self._sources.unit_ids()
        entries: list[UnitSnapshot] = []
        parts: list[SnapshotPart] = []
        embedding_model = ""
        try:
            for name in units:
                entry, unit_parts, model = await self._snapshot_unit(snapshot_id, name)
                entries.append(entry)
                parts.extend(unit_parts)
                embedding_model = embedding_model or model
            if scope is SnapshotScope.ALL:
                for bucket in MINISTRY_BUCKETS:
                    share = await self._sources.bucket_key_values(bucket)
                    parts.append(
                        await self._put(
                            snapshot_id, bucket_part_name(bucket), PartKind.BUCKET, "", _kv_json([share])
                        )
                    )
            manifest = SnapshotManifest(
                snapshot_id=snapshot_id,
                scope=scope,
                created_at=_now_iso(now),
                embedding_model=embedding_model,
                stream_sequence=stream.last_sequence,
                stream_created=stream.created,
                trigger=trigger,
                storage=self._storage.kind,
                units=tuple(entries),
                parts=tuple(parts),
                seconds=round(time.perf_counter() - started, 4),
            )
            data = manifest.to_json()
            await asyncio.to_thread(
                self._storage.put, snapshot_id, MANIFEST_DIGEST_NAME, (manifest_digest(data) + "\n").encode()
            )
            await asyncio.to_thread(self._storage.put, snapshot_id, MANIFEST_NAME, data)
        except BaseException:
            await asyncio.to_thread(self._storage.delete, snapshot_id)
            raise
        log.info(
            "snapshot_taken",
            snapshot_id=snapshot_id,
            units=len(entries),
            chunks=sum(entry.chunks for entry in entries),
            bytes=manifest.size_bytes,
            seconds=manifest.seconds,
            trigger=trigger.value,
        )
        await self._audit.record(
            ACTION_TAKEN,
            OUTCOME_SUCCESS,
            actor=actor,
            unit=unit or "",
            target=snapshot_id,
            client_address=client_address,
            details={"scope": scope.value, "units": str(len(entries)), "trigger": trigger.value},
        )
        return manifest

    async def _snapshot_unit(
        self, snapshot_id: str, unit: str
    ) -> tuple[UnitSnapshot, list[SnapshotPart], str]:
        ack_floor = await self._sources.ingest_ack_floor()  # before the cut: all at or below it are in it
        header, blocks = await self._archives.export_unit(unit)
        index_name = unit_part_name(unit, INDEX_PART)
        size, sha256 = await self._write_stream(snapshot_id, index_name, blocks)
        if size != header.size or sha256 != header.sha256:
            raise RuntimeError(f"archive of unit {unit} changed in transit ({size} != {header.size} bytes)")
        index_part = SnapshotPart(index_name, PartKind.UNIT_INDEX, unit, size, sha256)
        kv_part = await self._put(
            snapshot_id,
            unit_part_name(unit, KV_PART),
            PartKind.UNIT_KV,
            unit,
            _kv_json(await self._sources.unit_key_values(unit)),
        )
        originals = await self._sources.originals(unit)
        originals_part = await self._put(
            snapshot_id,
            unit_part_name(unit, ORIGINALS_PART),
            PartKind.UNIT_ORIGINALS,
            unit,
            _originals_json(originals),
        )
        entry = UnitSnapshot(
            unit=unit,
            stream_sequence=header.stream_sequence,
            replay_from_sequence=replay_start(header.stream_sequence, ack_floor),
            documents=header.documents,
            chunks=header.chunks,
            originals=len(originals),
            index_format=header.format,
        )
        return entry, [index_part, kv_part, originals_part], header.embedding_model

    async def _write_stream(
        self, snapshot_id: str, name: str, blocks: AsyncIterator[bytes]
    ) -> tuple[int, str]:
        writer = await asyncio.to_thread(self._storage.writer, snapshot_id, name)
        digest = hashlib.sha256()
        size = 0
        try:
            async for block in blocks:
                digest.update(block)
                size += len(block)
                await asyncio.to_thread(writer.write, block)
            await asyncio.to_thread(writer.commit)
        except BaseException:
            await asyncio.to_thread(writer.abort)
            raise
        return size, digest.hexdigest()

    async def _put(self, snapshot_id: str, name: str, kind: PartKind, unit: str, data: bytes) -> SnapshotPart:
        await asyncio.to_thread(self._storage.put, snapshot_id, name, data)
        return SnapshotPart(name, kind, unit, len(data), hashlib.sha256(data).hexdigest())

    # ---------------------------------------------------------------- list and verify

    async def list_snapshots(self, *, unit: str | None = None, limit: int = 0) -> list[SnapshotManifest]:
        """Complete snapshots, newest first; with `unit`, those holding it."""
        manifests: list[SnapshotManifest] = []
        for snapshot_id in sorted(await asyncio.to_thread(self._storage.snapshot_ids), reverse=True):
            data = await asyncio.to_thread(self._storage.get, snapshot_id, MANIFEST_NAME)
            if data is None:
                continue
            try:
                manifest = SnapshotManifest.from_json(data)
            except SnapshotRejected:
                log.warning("snapshot_manifest_unreadable", snapshot_id=snapshot_id)
                continue
            if unit is not None and not manifest.holds(unit):
                continue
            manifests.append(manifest)
            if limit and len(manifests) >= limit:
                break
        return manifests

    async def load_manifest(self, snapshot_id: str) -> SnapshotManifest:
        """The manifest, checked against its sha256; SnapshotRejected when missing or damaged."""
        if not snapshot_id or "/" in snapshot_id:
            raise SnapshotRejected(RejectionCode.NOT_FOUND, f"Không tìm thấy bản chụp '{snapshot_id}'.")
        data = await asyncio.to_thread(self._storage.get, snapshot_id, MANIFEST_NAME)
        if data is None:
            known = snapshot_id in await asyncio.to_thread(self._storage.snapshot_ids)
            raise SnapshotRejected(
                RejectionCode.INCOMPLETE if known else RejectionCode.NOT_FOUND,
                f"Bản chụp '{snapshot_id}' chưa hoàn tất (thiếu tệp kê khai)."
                if known
                else f"Không tìm thấy bản chụp '{snapshot_id}'.",
            )
        recorded = await asyncio.to_thread(self._storage.get, snapshot_id, MANIFEST_DIGEST_NAME)
        check_manifest_digest(data, (recorded or b"").decode("ascii", errors="replace"))
        manifest = SnapshotManifest.from_json(data)
        if manifest.snapshot_id != snapshot_id:
            raise SnapshotRejected(RejectionCode.CORRUPTED, "Tệp kê khai thuộc về một bản chụp khác.")
        return manifest

    async def verify_snapshot(self, snapshot_id: str, *, unit: str | None = None) -> SnapshotManifest:
        """Check the manifest and every part a restore of `unit` (or of everything) needs."""
        manifest = await self.load_manifest(snapshot_id)
        for part in check_complete(manifest, unit):
            size, sha256 = await self._measure(snapshot_id, part.name)
            check_part(part, size=size, sha256=sha256)
        return manifest

    async def _measure(self, snapshot_id: str, name: str) -> tuple[int | None, str | None]:
        def work() -> tuple[int | None, str | None]:
            digest = hashlib.sha256()
            size = 0
            try:
                for block in self._storage.blocks(snapshot_id, name, BLOCK_BYTES):
                    digest.update(block)
                    size += len(block)
            except PartMissing:
                return None, None
            return size, digest.hexdigest()

        return await asyncio.to_thread(work)

    # ---------------------------------------------------------------- restore

    async def restore_snapshot(
        self, snapshot_id: str, *, unit: str | None, actor: str, client_address: str = ""
    ) -> RestoreReport:
        """Verify, load, replay. `unit` None restores every unit of a snapshot of everything."""
        if unit is not None and not UNIT_ID_PATTERN.fullmatch(unit):
            raise InvalidSnapshotRequest(f"mã đơn vị không hợp lệ: {unit!r}")
        started = time.perf_counter()
        phases = _Phases()
        try:
            manifest = await phases.run("verify", lambda: self.verify_snapshot(snapshot_id, unit=unit))
            if unit is None and manifest.scope is not SnapshotScope.ALL:
                raise SnapshotRejected(
                    RejectionCode.UNIT_MISSING,
                    "Bản chụp này chỉ chứa một đơn vị: hãy chỉ rõ đơn vị cần khôi phục.",
                )
            units = [unit] if unit is not None else [entry.unit for entry in manifest.units]
            await self._check_embedding_model(manifest, units)
        except SnapshotRejected as rejected:
            log.warning(
                "snapshot_restore_refused", snapshot_id=snapshot_id, unit=unit or "", code=rejected.code.value
            )
            await self._audit.record(
                ACTION_RESTORE_REFUSED,
                OUTCOME_FAILURE,
                actor=actor,
                unit=unit or "",
                target=snapshot_id,
                reason=rejected.code.value,
                client_address=client_address,
            )
            raise
        try:
            async with self._restoring_units(units):
                reports = [await self._restore_unit(manifest, name) for name in units]
                restored_buckets: list[str] = []
                if unit is None:
                    restored_buckets = await phases.run("buckets", lambda: self._restore_buckets(manifest))
        except Exception as error:
            log.exception("snapshot_restore_failed", snapshot_id=snapshot_id, unit=unit or "")
            await self._audit.record(
                ACTION_RESTORE_FAILED,
                OUTCOME_FAILURE,
                actor=actor,
                unit=unit or "",
                target=snapshot_id,
                reason=type(error).__name__,
                client_address=client_address,
            )
            raise
        report = RestoreReport(
            snapshot_id=snapshot_id,
            units=tuple(reports),
            restored_buckets=tuple(restored_buckets),
            phases=tuple(phases.items),
            seconds=round(time.perf_counter() - started, 4),
        )
        log.info(
            "snapshot_restored",
            snapshot_id=snapshot_id,
            units=len(reports),
            chunks=sum(item.chunks for item in reports),
            replayed=sum(item.replayed_events for item in reports),
            seconds=report.seconds,
        )
        await self._audit.record(
            ACTION_RESTORED,
            OUTCOME_SUCCESS,
            actor=actor,
            unit=unit or "",
            target=snapshot_id,
            client_address=client_address,
            details={
                "units": str(len(reports)),
                "replayed_events": str(sum(item.replayed_events for item in reports)),
                "replay_complete": str(all(item.replay_complete for item in reports)).lower(),
                "seconds": f"{report.seconds:.3f}",
            },
        )
        return report

    async def _check_embedding_model(self, manifest: SnapshotManifest, units: list[str]) -> None:
        if not units or not manifest.embedding_model:
            return
        stats = await self._archives.unit_stats(units[0])
        if stats.embedding_model != manifest.embedding_model:
            raise SnapshotRejected(
                RejectionCode.INCOMPATIBLE,
                f"Bản chụp dùng mô hình nhúng '{manifest.embedding_model}', dịch vụ tìm kiếm đang dùng"
                f" '{stats.embedding_model}': không thể nạp lẫn vector của hai mô hình.",
            )

    @asynccontextmanager
    async def _restoring_units(self, units: list[str]) -> AsyncIterator[None]:
        busy = [name for name in units if name in self._restoring]
        if busy:
            raise RestoreBusy(f"đơn vị {', '.join(busy)} đang được khôi phục")
        self._restoring.update(units)
        try:
            yield
        finally:
            self._restoring.difference_update(units)

    async def _restore_unit(self, manifest: SnapshotManifest, unit: str) -> UnitRestoreReport:
        phases = _Phases()
        entry = manifest.unit(unit)
        index_part = manifest.part(unit_part_name(unit, INDEX_PART))
        if entry is None or index_part is None:  # verified before; kept for the type checker
            raise SnapshotRejected(
                RejectionCode.UNIT_MISSING, f"Bản chụp không có dữ liệu của đơn vị '{unit}'."
            )
        header = UnitArchiveHeader(
            unit=unit,
            format=entry.index_format,
            stream_sequence=entry.stream_sequence,
            embedding_model=manifest.embedding_model,
            dense_dimension=0,
            documents=entry.documents,
            chunks=entry.chunks,
            created_at=manifest.created_at,
            size=index_part.size,
            sha256=index_part.sha256,
        )
        await phases.run(
            "import",
            lambda: self._archives.import_unit(
                header, self._verified_blocks(manifest.snapshot_id, index_part)
            ),
        )
        written = await phases.run("key_values", lambda: self._restore_unit_key_values(manifest, unit))
        missing = await phases.run("originals", lambda: self._missing_originals(manifest, unit))
        stream = await self._sources.docs_stream()
        plan = plan_replay(
            entry,
            manifest_stream_created=manifest.stream_created,
            stream_created=stream.created,
            first_sequence=stream.first_sequence,
            last_sequence=stream.last_sequence,
        )
        outcome = ReplayOutcome(0, 0, 0, "", stream.first_sequence)
        if plan.from_sequence <= plan.to_sequence:
            outcome = await phases.run(
                "replay",
                lambda: self._replayer.replay(
                    unit, from_sequence=plan.from_sequence, to_sequence=plan.to_sequence
                ),
            )
        stats = await self._archives.unit_stats(unit)
        return UnitRestoreReport(
            unit=unit,
            documents=stats.documents,
            chunks=stats.chunks,
            replay_from_sequence=plan.from_sequence,
            replay_to_sequence=plan.to_sequence,
            replayed_events=outcome.events,
            replay_complete=plan.complete and not outcome.error,
            replay_note=" ".join(note for note in (plan.note, outcome.error) if note),
            missing_originals=tuple(missing),
            restored_key_values=written,
            phases=tuple(phases.items),
        )

    async def _verified_blocks(self, snapshot_id: str, part: SnapshotPart) -> AsyncIterator[bytes]:
        """The part's bytes as stored now (retrieval checks their size and sha256 against the
        verified manifest once more before it swaps anything)."""
        blocks: Iterator[bytes] = self._storage.blocks(snapshot_id, part.name, BLOCK_BYTES)
        while True:
            block = await asyncio.to_thread(next, blocks, None)
            if block is None:
                return
            yield block

    async def _restore_unit_key_values(self, manifest: SnapshotManifest, unit: str) -> int:
        data = await self._part_bytes(manifest, unit_part_name(unit, KV_PART))
        if data is None:
            return 0
        return await self._sources.write_back_unit_key_values(unit, _kv_from_json(data))

    async def _missing_originals(self, manifest: SnapshotManifest, unit: str) -> list[str]:
        data = await self._part_bytes(manifest, unit_part_name(unit, ORIGINALS_PART))
        if data is None:
            return []
        live = {entry.name: entry for entry in await self._sources.originals(unit)}
        return missing_originals(_originals_from_json(data), live)

    async def _restore_buckets(self, manifest: SnapshotManifest) -> list[str]:
        restored = []
        for part in manifest.parts:
            if part.kind is not PartKind.BUCKET:
                continue
            data = await self._part_bytes(manifest, part.name)
            for share in _kv_from_json(data or b"{}"):
                if await self._sources.write_back_bucket(share):
                    restored.append(share.bucket)
        return restored

    async def _part_bytes(self, manifest: SnapshotManifest, name: str) -> bytes | None:
        part = manifest.part(name)
        if part is None:
            return None
        data = await asyncio.to_thread(self._storage.get, manifest.snapshot_id, name)
        if data is None:
            raise SnapshotRejected(RejectionCode.INCOMPLETE, f"Bản chụp thiếu phần '{name}'.")
        check_part(part, size=len(data), sha256=hashlib.sha256(data).hexdigest())
        return data

    # ---------------------------------------------------------------- retention

    async def apply_retention(self) -> list[str]:
        """Delete scheduled snapshots the policy no longer keeps, and long-abandoned incomplete ones."""
        now = self._now()
        scheduled: list[tuple[str, datetime]] = []
        for manifest in await self.list_snapshots():
            created = _parse_time(manifest.created_at)
            if manifest.trigger is SnapshotTrigger.SCHEDULED and created is not None:
                scheduled.append((manifest.snapshot_id, created))
        doomed = snapshots_to_delete(scheduled, now=now, policy=self._config.retention)
        complete = {manifest.snapshot_id for manifest in await self.list_snapshots()}
        for snapshot_id in await asyncio.to_thread(self._storage.snapshot_ids):
            taken = snapshot_time(snapshot_id)
            if (
                snapshot_id not in complete
                and taken is not None
                and (now - taken).total_seconds() > self._config.incomplete_grace_seconds
            ):
                doomed.append(snapshot_id)
        for snapshot_id in doomed:
            await asyncio.to_thread(self._storage.delete, snapshot_id)
            log.info("snapshot_pruned", snapshot_id=snapshot_id)
        return doomed


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def manifest_summary(manifest: SnapshotManifest) -> dict[str, Any]:
    """A short JSON-able description (CLI output, logs)."""
    return {
        "snapshot_id": manifest.snapshot_id,
        "scope": manifest.scope.value,
        "created_at": manifest.created_at,
        "units": len(manifest.units),
        "chunks": sum(entry.chunks for entry in manifest.units),
        "bytes": manifest.size_bytes,
        "seconds": manifest.seconds,
    }
