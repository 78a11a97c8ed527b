"""Ingest lag, per-unit queues and dead letters as metrics, read from JetStream itself.

JetStream knows the truth across every ingest replica: how many document events each unit's lanes
have not yet been given (`num_pending`) or have out and unacknowledged (`num_ack_pending`), how
many were redelivered, and how many dead letters each unit has in the DEADLETTER stream. A
background task reads them every `interval_seconds`, derives each unit's drain rate from the
acknowledgements between two readings, writes each unit's `QueueReading` to the `ingest_queues`
bucket for the gateway, and serves the last reading to the gauges (collection never waits on
NATS). Every replica reports the same numbers: aggregate with `max`, not `sum`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from nats.js.kv import KeyValue

from trolyao.ingestqueue import QueueReading, lane_events_kept, write_queue_reading
from trolyao.logs import get_logger
from trolyao.messaging import (
    DEADLETTER_STREAM,
    DOCS_STREAM,
    IngestLane,
    ingest_durable,
    subject_template,
)
from trolyao.telemetry.instruments import LABEL_UNIT, observe_values

log = get_logger("ingest")

DEADLETTER_SUBJECTS = "deadletter.>"
MESSAGES = "{message}"
READ_TIMEOUT_SECONDS = 5.0
# (name, unit, description) of the `trolyao.ingest.*` gauges.
GAUGES = (
    ("pending", MESSAGES, "Document events in JetStream not yet delivered to ingest, every unit (the lag)."),
    ("ack_pending", MESSAGES, "Document events delivered to ingest and not yet acknowledged."),
    ("redelivered", MESSAGES, "Document events being redelivered (retries after a failure or crash)."),
    ("unit_waiting", MESSAGES, "Document events of a unit not yet acknowledged (both lanes), per unit."),
    ("unit_eta_seconds", "s", "Estimated seconds until a unit's waiting changes are searchable, per unit."),
    ("dead_letters", MESSAGES, "Dead letters kept in the DEADLETTER stream, per unit."),
)
# Weight of the newest rate in the smoothed drain rate (an exponential moving average).
RATE_SMOOTHING = 0.3


@dataclass(frozen=True, slots=True)
class LaneBacklog:
    """One unit's events not yet acknowledged, per lane, as JetStream counts them."""

    interactive: int = 0
    bulk: int = 0
    redelivered: int = 0
    acknowledged: int = 0  # deliveries acknowledged so far over both lanes (a rate's numerator)

    @property
    def waiting(self) -> int:
        return self.interactive + self.bulk


@dataclass
class BacklogReading:
    """The last numbers read from JetStream."""

    pending: int = 0
    ack_pending: int = 0
    redelivered: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    queues: dict[str, QueueReading] = field(default_factory=dict)


async def units_with_events(js: JetStreamContext) -> set[str]:
    """Every unit with at least one event kept in the DOCS stream."""
    return set(await lane_events_kept(js))


async def _lane_info(js: JetStreamContext, unit: str, lane: IngestLane) -> ConsumerInfo | None:
    try:
        info: ConsumerInfo = await js.consumer_info(
            DOCS_STREAM, ingest_durable(unit, lane), timeout=READ_TIMEOUT_SECONDS
        )
    except nats.js.errors.NotFoundError:
        return None
    return info


async def unit_backlog(js: JetStreamContext, unit: str) -> tuple[LaneBacklog, int, int]:
    """Both lanes of a unit (a lane not made yet counts as empty), and their pending and
    ack-pending totals."""
    waiting: dict[IngestLane, int] = {}
    pending = ack_pending = redelivered = acknowledged = 0
    for lane in IngestLane:
        info = await _lane_info(js, unit, lane)
        if info is None:
            waiting[lane] = 0
            continue
        lane_pending, lane_ack_pending = int(info.num_pending or 0), int(info.num_ack_pending or 0)
        waiting[lane] = lane_pending + lane_ack_pending
        pending += lane_pending
        ack_pending += lane_ack_pending
        redelivered += int(info.num_redelivered or 0)
        if info.ack_floor is not None:
            acknowledged += int(info.ack_floor.consumer_seq or 0)
    backlog = LaneBacklog(
        interactive=waiting[IngestLane.INTERACTIVE],
        bulk=waiting[IngestLane.BULK],
        redelivered=redelivered,
        acknowledged=acknowledged,
    )
    return backlog, pending, ack_pending


class IngestBacklogGauges:
    """Polls the lanes and the dead-letter stream; publishes `trolyao.ingest.*` gauges and each
    unit's queue reading."""

    def __init__(
        self, js: JetStreamContext, *, interval_seconds: float, queues: KeyValue | None = None
    ) -> None:
        self._js = js
        self._interval = interval_seconds
        self._queues = queues
        self._reading: BacklogReading | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_acknowledged: dict[str, tuple[int, float]] = {}
        self._rates: dict[str, float] = {}

    @property
    def reading(self) -> BacklogReading | None:
        """The last successful reading (None before the first)."""
        return self._reading

    async def refresh(self) -> BacklogReading:
        """Read the numbers from JetStream now (and publish the units' queue readings)."""
        reading = BacklogReading()
        now = time.monotonic()
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        previous = self._reading.queues if self._reading else {}
        kept = await lane_events_kept(self._js)
        for unit in sorted(kept):
            backlog, pending, ack_pending = await unit_backlog(self._js, unit)
            reading.pending += pending
            reading.ack_pending += ack_pending
            reading.redelivered += backlog.redelivered
            queue = QueueReading(
                unit=unit,
                interactive=backlog.interactive,
                bulk=backlog.bulk,
                per_second=round(self._drain_rate(unit, backlog, now), 3),
                updated_at=stamp,
                interactive_done=max(0, kept[unit][IngestLane.INTERACTIVE] - backlog.interactive),
                bulk_done=max(0, kept[unit][IngestLane.BULK] - backlog.bulk),
            )
            reading.queues[unit] = queue
            before = previous.get(unit)
            if self._queues is not None and (queue.waiting or before is None or before.waiting):
                await write_queue_reading(self._queues, queue)  # idle units are written once
        stream = await self._js.stream_info(DEADLETTER_STREAM, subjects_filter=DEADLETTER_SUBJECTS)
        for subject, count in (stream.state.subjects or {}).items():
            _template, unit_id = subject_template(subject)
            key = unit_id or subject
            reading.dead_letters[key] = reading.dead_letters.get(key, 0) + int(count)
        self._reading = reading
        return reading

    def _drain_rate(self, unit: str, backlog: LaneBacklog, now: float) -> float:
        """Acknowledgements per second between this reading and the last, smoothed; the last
        known rate while a backlog waits (a pause is not a drop to zero)."""
        last = self._last_acknowledged.get(unit)
        self._last_acknowledged[unit] = (backlog.acknowledged, now)
        if last is None or now <= last[1]:
            return self._rates.get(unit, 0.0)
        latest = max(0, backlog.acknowledged - last[0]) / (now - last[1])
        earlier = self._rates.get(unit)
        if latest == 0 and backlog.waiting == 0:
            rate = earlier or 0.0
        elif earlier is None:
            rate = latest
        else:
            rate = RATE_SMOOTHING * latest + (1 - RATE_SMOOTHING) * earlier
        self._rates[unit] = rate
        return rate

    def start(self) -> None:
        """Register the gauges and start polling (inside the running event loop)."""
        self._register()
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as error:  # NATS restarting, consumer not made yet: try again later
                log.debug("backlog_read_failed", error=type(error).__name__)
            await asyncio.sleep(self._interval)

    def _values(self, name: str) -> list[tuple[float, dict[str, str]]]:
        reading = self._reading
        if reading is None:
            return []
        if name == "dead_letters":
            return [
                (float(count), {LABEL_UNIT: unit}) for unit, count in sorted(reading.dead_letters.items())
            ]
        if name == "unit_waiting":
            return [(float(queue.waiting), {LABEL_UNIT: unit}) for unit, queue in reading.queues.items()]
        if name == "unit_eta_seconds":
            return [
                (float(eta), {LABEL_UNIT: unit})
                for unit, queue in reading.queues.items()
                if (eta := queue.eta_seconds) is not None
            ]
        return [(float(getattr(reading, name)), {})]

    def _register(self) -> None:
        for name, unit, description in GAUGES:
            observe_values(
                f"trolyao.ingest.{name}",
                description=description,
                unit=unit,
                read=partial(self._values, name),
            )
