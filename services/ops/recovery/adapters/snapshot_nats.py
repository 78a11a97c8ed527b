"""The NATS side of snapshots: key-value buckets, the originals' object store, the DOCS stream, the
replay request to ingest, and the audit trail.

Key-value entries are copied as stored (bytes), so secrets that ops keeps encrypted stay encrypted
in the snapshot. Per unit, the unit's keys (`<unit>.…`) of the doc_status and faq_entries buckets.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import nats.errors
from google.protobuf import json_format
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from services.ops.identity.adapters.audit_stream import AuditTrail
from services.ops.identity.domain.audit import Outcome, new_audit_event
from services.ops.recovery.domain.snapshot_ports import ReplayOutcome, StoredEvent, StreamState
from services.ops.recovery.domain.snapshots import KeyValueShare, OriginalEntry, entries_to_write_back
from trolyao.keyvalue import live_keys
from trolyao.logs import get_logger
from trolyao.messaging import (
    DOC_STATUS_BUCKET,
    DOCS_STREAM,
    FAQ_ENTRIES_BUCKET,
    INGEST_DURABLE,
    ORIGINALS_BUCKET,
    SCHEMA_VERSION,
    TEST_QUESTIONS_BUCKET,
    TEST_RUNS_BUCKET,
    UNITS_BUCKET,
    IngestLane,
    ingest_durable,
    replay_subject,
    unit_docs_filter,
)
from trolyao.v1 import snapshots_pb2

log = get_logger("ops")

# A unit's keys all start `<unit>.`: its statuses, FAQ, test questions and test-run history.
UNIT_SCOPED_BUCKETS = (DOC_STATUS_BUCKET, FAQ_ENTRIES_BUCKET, TEST_QUESTIONS_BUCKET, TEST_RUNS_BUCKET)
ORIGINALS_CACHE_SECONDS = 5.0
EVENT_SCAN_BATCH = 256
EVENT_FETCH_TIMEOUT_SECONDS = 2.0
EVENT_SCAN_IDLE_SECONDS = 60.0
MAX_SHOWN_CHARS = 256


async def _keys(bucket: KeyValue, pattern: str | None = None) -> list[str]:
    """Live keys matching a subject pattern (`<unit>.>`), read without creating consumers."""
    return await live_keys(bucket, pattern or ">")


async def _entries(bucket: KeyValue, keys: list[str]) -> dict[str, bytes]:
    entries: dict[str, bytes] = {}
    for key in keys:
        try:
            entry = await bucket.get(key)
        except KeyNotFoundError:
            continue
        if entry.value:
            entries[key] = bytes(entry.value)
    return entries


class NatsSnapshotSources:
    """`SnapshotSources` over JetStream."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self._originals: tuple[float, dict[str, list[OriginalEntry]]] | None = None

    async def unit_ids(self) -> list[str]:
        bucket = await self._js.key_value(UNITS_BUCKET)
        return sorted(await _keys(bucket))

    async def unit_key_values(self, unit: str) -> list[KeyValueShare]:
        shares = []
        for name in UNIT_SCOPED_BUCKETS:
            bucket = await self._js.key_value(name)
            shares.append(
                KeyValueShare(bucket=name, entries=await _entries(bucket, await _keys(bucket, f"{unit}.>")))
            )
        return shares

    async def write_back_unit_key_values(
        self, unit: str, shares: list[KeyValueShare], *, replace_live: bool = False
    ) -> int:
        written = 0
        for share in shares:
            if share.bucket not in UNIT_SCOPED_BUCKETS:
                continue
            bucket = await self._js.key_value(share.bucket)
            live = await _keys(bucket, f"{unit}.>")
            wanted = dict(share.entries) if replace_live else entries_to_write_back(share.entries, live)
            for key, value in wanted.items():
                if key.partition(".")[0] == unit:
                    await bucket.put(key, value)
                    written += 1
            if replace_live:
                # Records the snapshot does not hold describe changes after it; replay brings back
                # those made before the point in time.
                for key in set(live) - set(share.entries):
                    await bucket.delete(key)
        return written

    async def bucket_key_values(self, bucket: str) -> KeyValueShare:
        try:
            store = await self._js.key_value(bucket)
        except BucketNotFoundError:
            return KeyValueShare(bucket=bucket)
        return KeyValueShare(bucket=bucket, entries=await _entries(store, await _keys(store)))

    async def write_back_bucket(self, share: KeyValueShare) -> int:
        try:
            store = await self._js.key_value(share.bucket)
        except BucketNotFoundError:
            log.warning("snapshot_bucket_missing", bucket=share.bucket)
            return 0
        wanted = entries_to_write_back(share.entries, await _keys(store))
        for key, value in wanted.items():
            await store.put(key, value)
        return len(wanted)

    async def originals(self, unit: str) -> list[OriginalEntry]:
        now = time.monotonic()
        if self._originals is None or now - self._originals[0] > ORIGINALS_CACHE_SECONDS:
            self._originals = (now, await self._list_originals())
        return list(self._originals[1].get(unit, []))

    async def _list_originals(self) -> dict[str, list[OriginalEntry]]:
        by_unit: dict[str, list[OriginalEntry]] = {}
        try:
            store = await self._js.object_store(ORIGINALS_BUCKET)
            infos = await store.list(ignore_deletes=True)
        except (NotFoundError, BucketNotFoundError):
            return by_unit
        for info in infos:
            name = str(info.name or "")
            if info.deleted or not name:
                continue
            entry = OriginalEntry(name=name, size=int(info.size or 0), digest=str(info.digest or ""))
            by_unit.setdefault(name.partition(".")[0], []).append(entry)
        return by_unit

    async def docs_stream(self) -> StreamState:
        info = await self._js.stream_info(DOCS_STREAM)
        return StreamState(
            first_sequence=int(info.state.first_seq),
            last_sequence=int(info.state.last_seq),
            created=str(info.created or ""),
        )

    async def first_sequence_stored_at_or_after(self, moment: datetime) -> int | None:
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=moment.astimezone(UTC),
            inactive_threshold=EVENT_SCAN_IDLE_SECONDS,
            mem_storage=True,
            num_replicas=1,
        )
        async with _scan(self._js, "docs.>", config) as (subscription, pending):
            if pending == 0:
                return None
            try:
                messages = await subscription.fetch(1, timeout=EVENT_FETCH_TIMEOUT_SECONDS)
            except (TimeoutError, nats.errors.TimeoutError):
                return None
            return int(messages[0].metadata.sequence.stream) if messages else None

    async def unit_events(
        self, unit: str, *, from_sequence: int, to_sequence: int, limit: int
    ) -> tuple[list[StoredEvent], int]:
        if from_sequence > to_sequence:
            return [], 0
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=max(from_sequence, 1),
            inactive_threshold=EVENT_SCAN_IDLE_SECONDS,
            mem_storage=True,
            num_replicas=1,
        )
        events: list[StoredEvent] = []
        total = 0
        async with _scan(self._js, unit_docs_filter(unit), config) as (subscription, pending):
            while pending > 0:
                try:
                    messages = await subscription.fetch(
                        min(EVENT_SCAN_BATCH, pending), timeout=EVENT_FETCH_TIMEOUT_SECONDS
                    )
                except (TimeoutError, nats.errors.TimeoutError):
                    break
                for message in messages:
                    sequence = int(message.metadata.sequence.stream)
                    pending = int(message.metadata.num_pending)
                    if sequence > to_sequence:
                        return events, total
                    total += 1
                    if len(events) < limit:
                        events.append(
                            _stored_event(message.subject, message.data, sequence, message.metadata)
                        )
        return events, total

    async def ingest_ack_floor(self, unit: str) -> int | None:
        """Over the unit's ingest lanes: the lowest ack floor of a lane with work outstanding, or
        the highest of all when none has (each lane's floor then is its last event); the old
        single `ingest` durable's floor on a stack not yet moved to lanes. None when no consumer
        has seen the unit."""
        floors: list[tuple[int, bool]] = []
        for durable in (ingest_durable(unit, lane) for lane in IngestLane):
            try:
                info = await self._js.consumer_info(DOCS_STREAM, durable)
            except NotFoundError:
                continue
            floor = int(info.ack_floor.stream_seq or 0) if info.ack_floor is not None else 0
            outstanding = bool(info.num_pending or info.num_ack_pending)
            floors.append((floor, outstanding))
        if not floors:
            try:
                info = await self._js.consumer_info(DOCS_STREAM, INGEST_DURABLE)
            except NotFoundError:
                return None
            return int(info.ack_floor.stream_seq or 0) if info.ack_floor is not None else 0
        busy = [floor for floor, outstanding in floors if outstanding]
        return min(busy) if busy else max(floor for floor, _ in floors)


@asynccontextmanager
async def _scan(
    js: JetStreamContext, subject: str, config: ConsumerConfig
) -> AsyncIterator[tuple[JetStreamContext.PullSubscription, int]]:
    """An ephemeral, ack-less pull consumer on DOCS, always deleted afterwards."""
    subscription = await js.pull_subscribe(subject, stream=DOCS_STREAM, config=config)
    consumer = ""
    try:
        info = await subscription.consumer_info()
        consumer = info.name
        yield subscription, int(info.num_pending or 0)
    finally:
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
        if consumer:
            with contextlib.suppress(Exception):
                await js.delete_consumer(DOCS_STREAM, consumer)


def _stored_event(subject: str, data: bytes, sequence: int, metadata: Any) -> StoredEvent:
    """What a person needs to see of a skipped event (never its content)."""
    try:
        body = json.loads(data)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    try:
        version = int(body.get("version", 0))
    except (TypeError, ValueError):
        version = 0
    stamp = getattr(metadata, "timestamp", None)
    return StoredEvent(
        sequence=sequence,
        stored_at=stamp.isoformat() if isinstance(stamp, datetime) else "",
        kind=subject.rsplit(".", 1)[-1],
        document_id=str(body.get("documentId", body.get("document_id", "")))[:MAX_SHOWN_CHARS],
        version=version,
        source=str(body.get("source", ""))[:MAX_SHOWN_CHARS],
    )


class NatsEventReplayer:
    """`EventReplayer`: a `ReplayDocumentEvents` request on `ops.replay.<unit>`, answered by ingest
    with `DocumentEventsReplayed` once every event was fed through its handlers."""

    def __init__(self, nats_client: NatsClient, *, timeout_seconds: float) -> None:
        self._nats = nats_client
        self._timeout = timeout_seconds

    async def replay(self, unit: str, *, from_sequence: int, to_sequence: int) -> ReplayOutcome:
        command = snapshots_pb2.ReplayDocumentEvents(
            schema_version=SCHEMA_VERSION,
            replay_id=str(uuid.uuid4()),
            unit=unit,
            from_sequence=from_sequence,
            to_sequence=to_sequence,
        )
        try:
            reply = await self._nats.request(
                replay_subject(unit), json_format.MessageToJson(command).encode(), timeout=self._timeout
            )
        except nats.errors.NoRespondersError:
            return ReplayOutcome(0, 0, 0, "dịch vụ ingest không chạy nên chưa phát lại được sự kiện", 0)
        except (TimeoutError, nats.errors.TimeoutError):
            return ReplayOutcome(
                0, 0, 0, f"ingest chưa phát lại xong sau {self._timeout:.0f} giây; hãy khôi phục lại", 0
            )
        result = snapshots_pb2.DocumentEventsReplayed()
        json_format.Parse(reply.data.decode("utf-8"), result, ignore_unknown_fields=True)
        return ReplayOutcome(
            events=result.events,
            applied=result.applied,
            failed=result.failed,
            error=result.error,
            stream_first_sequence=result.stream_first_sequence,
        )


class AuditTrailSink:
    """`SnapshotAudit` on the ops audit stream (category "snapshot")."""

    def __init__(self, trail: AuditTrail, *, clock: Callable[[], float] = time.time) -> None:
        self._trail = trail
        self._clock = clock

    async def record(
        self,
        action: str,
        outcome: str,
        *,
        actor: str,
        unit: str = "",
        target: str = "",
        reason: str = "",
        client_address: str = "",
        details: Mapping[str, str] | None = None,
    ) -> None:
        await self._trail.append(
            new_audit_event(
                now=self._clock(),
                actor=actor,
                action=action,
                outcome=Outcome(outcome),
                client_address=client_address,
                target=target,
                unit=unit,
                reason=reason,
                details=details,
            )
        )
