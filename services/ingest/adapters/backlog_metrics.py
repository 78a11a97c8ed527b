"""Ingest lag and dead letters as metrics, read from JetStream itself.

JetStream knows the truth across every ingest replica: how many document events the durable
consumer has not yet been given (`num_pending`), how many are out for processing and not yet
acknowledged (`num_ack_pending`), how many were redelivered, and how many dead letters each unit
has in the DEADLETTER stream. A background task reads them every `telemetry_poll_seconds`; the
gauges serve the last reading (collection never waits on NATS). Every replica reports the same
numbers: aggregate with `max`, not `sum`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from nats.js import JetStreamContext

from trolyao.logs import get_logger
from trolyao.messaging import DEADLETTER_STREAM, DOCS_STREAM, INGEST_DURABLE, subject_template
from trolyao.telemetry.instruments import LABEL_UNIT, observe_values

log = get_logger("ingest")

DEADLETTER_SUBJECTS = "deadletter.>"
MESSAGES = "{message}"
READ_TIMEOUT_SECONDS = 5.0


@dataclass
class BacklogReading:
    """The last numbers read from JetStream."""

    pending: int = 0
    ack_pending: int = 0
    redelivered: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)


class IngestBacklogGauges:
    """Polls the consumer and the dead-letter stream; publishes `trolyao.ingest.*` gauges."""

    def __init__(self, js: JetStreamContext, *, interval_seconds: float) -> None:
        self._js = js
        self._interval = interval_seconds
        self._reading: BacklogReading | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def reading(self) -> BacklogReading | None:
        """The last successful reading (None before the first)."""
        return self._reading

    async def refresh(self) -> BacklogReading:
        """Read the numbers from JetStream now."""
        consumer = await self._js.consumer_info(DOCS_STREAM, INGEST_DURABLE, timeout=READ_TIMEOUT_SECONDS)
        stream = await self._js.stream_info(DEADLETTER_STREAM, subjects_filter=DEADLETTER_SUBJECTS)
        dead_letters: dict[str, int] = {}
        for subject, count in (stream.state.subjects or {}).items():
            _template, unit = subject_template(subject)
            key = unit or subject
            dead_letters[key] = dead_letters.get(key, 0) + int(count)
        self._reading = BacklogReading(
            pending=int(consumer.num_pending or 0),
            ack_pending=int(consumer.num_ack_pending or 0),
            redelivered=int(consumer.num_redelivered or 0),
            dead_letters=dead_letters,
        )
        return self._reading

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
        return [(float(getattr(reading, name)), {})]

    def _register(self) -> None:
        observe_values(
            "trolyao.ingest.pending",
            description="Document events in JetStream not yet delivered to ingest (the ingest lag).",
            unit=MESSAGES,
            read=lambda: self._values("pending"),
        )
        observe_values(
            "trolyao.ingest.ack_pending",
            description="Document events delivered to ingest and not yet acknowledged.",
            unit=MESSAGES,
            read=lambda: self._values("ack_pending"),
        )
        observe_values(
            "trolyao.ingest.redelivered",
            description="Document events being redelivered (retries after a failure or crash).",
            unit=MESSAGES,
            read=lambda: self._values("redelivered"),
        )
        observe_values(
            "trolyao.ingest.dead_letters",
            description="Dead letters kept in the DEADLETTER stream, per unit.",
            unit=MESSAGES,
            read=lambda: self._values("dead_letters"),
        )
