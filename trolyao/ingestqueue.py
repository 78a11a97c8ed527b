"""A unit's ingest queue as people see it: changes waiting and when they should be searchable.

Ingest reads its lanes' consumers (JetStream's own counts, true across every replica) every few
seconds and writes one record per unit to the `ingest_queues` bucket; the gateway reads it for the
documents page and the console's banner. The estimate divides what waits by the unit's recent drain
rate; with no rate yet (a backlog that has not moved) there is no estimate.

A document's place in its lane is cheap to tell: when the gateway publishes an upload it notes the
event's ordinal in its lane (the lane's events kept in the stream, counted by JetStream's per-subject
totals, plus one), and each reading carries how many of the lane's events are done (kept minus
waiting). The place is the ordinal minus what is done, never scanned per request.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError
from nats.js.kv import KeyValue

from trolyao.messaging import DOCS_STREAM, UNIT_ID_PATTERN, IngestLane

ALL_DOCUMENT_SUBJECTS = "docs.>"
INTERACTIVE_SUBJECT_TOKENS = 3  # docs.<unit>.upsert|delete; bulk ones are docs.<unit>.bulk.<action>


@dataclass(frozen=True, slots=True)
class QueueReading:
    unit: str
    interactive: int = 0  # changes waiting on the interactive lane (uploads, a unit's own events)
    bulk: int = 0  # changes waiting on the bulk lane (imports, re-indexing)
    per_second: float = 0.0  # changes finished per second, recently
    updated_at: str = ""
    interactive_done: int = 0  # events of the interactive lane kept in the stream and acknowledged
    bulk_done: int = 0  # the same for the bulk lane

    def done(self, lane: str) -> int:
        """Acknowledged events of one lane (`interactive` or `bulk`)."""
        return self.bulk_done if lane == "bulk" else self.interactive_done

    def position(self, lane: str, ordinal: int) -> int | None:
        """Place (1 = next) in its lane of the event that was the lane's `ordinal`-th; None unknown.

        An event being worked on is first. A reading a few seconds old undercounts what is done, so
        the place errs late, never early (events expiring from the stream meanwhile do the same)."""
        if ordinal <= 0:
            return None
        return max(1, ordinal - self.done(lane))

    @property
    def waiting(self) -> int:
        return self.interactive + self.bulk

    @property
    def eta_seconds(self) -> float | None:
        """Seconds until every waiting change is searchable; 0 with none; None when unknown."""
        if self.waiting == 0:
            return 0.0
        if self.per_second <= 0:
            return None
        return self.waiting / self.per_second


async def write_queue_reading(bucket: KeyValue, reading: QueueReading) -> None:
    await bucket.put(reading.unit, json.dumps(asdict(reading)).encode())


async def read_queue_reading(bucket: KeyValue, unit: str) -> QueueReading | None:
    """The unit's last reading; None when ingest never saw a queue for it (or it expired)."""
    try:
        entry = await bucket.get(unit)
    except (KeyNotFoundError, KeyDeletedError):
        return None
    if not entry.value:
        return None
    fields = json.loads(entry.value)
    return QueueReading(
        **{name: fields[name] for name in QueueReading.__dataclass_fields__ if name in fields}
    )


def subject_lane(subject: str) -> tuple[str, IngestLane] | None:
    """The unit and lane of a DOCS subject; None for a subject that is no unit's."""
    parts = subject.split(".")
    if len(parts) < INTERACTIVE_SUBJECT_TOKENS or not UNIT_ID_PATTERN.match(parts[1]):
        return None
    lane = IngestLane.INTERACTIVE if len(parts) == INTERACTIVE_SUBJECT_TOKENS else IngestLane.BULK
    return parts[1], lane


async def lane_events_kept(
    js: JetStreamContext, subjects: str = ALL_DOCUMENT_SUBJECTS
) -> dict[str, dict[IngestLane, int]]:
    """Per unit and lane, how many document events the DOCS stream keeps (JetStream's per-subject
    totals: one stream-info request, no message read)."""
    info = await js.stream_info(DOCS_STREAM, subjects_filter=subjects)
    kept: dict[str, dict[IngestLane, int]] = {}
    for subject, count in (info.state.subjects or {}).items():
        found = subject_lane(subject)
        if found is None:
            continue
        unit, lane = found
        lanes = kept.setdefault(unit, dict.fromkeys(IngestLane, 0))
        lanes[lane] += int(count)
    return kept
