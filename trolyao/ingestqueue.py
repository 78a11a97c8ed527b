"""A unit's ingest queue as people see it: changes waiting and when they should be searchable.

Ingest reads its lanes' consumers (JetStream's own counts, true across every replica) every few
seconds and writes one record per unit to the `ingest_queues` bucket; the gateway reads it for the
documents page and the console's banner. The estimate divides what waits by the unit's recent drain
rate; with no rate yet (a backlog that has not moved) there is no estimate.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from nats.js.errors import KeyDeletedError, KeyNotFoundError
from nats.js.kv import KeyValue


@dataclass(frozen=True, slots=True)
class QueueReading:
    unit: str
    interactive: int = 0  # changes waiting on the interactive lane (uploads, a unit's own events)
    bulk: int = 0  # changes waiting on the bulk lane (imports, re-indexing)
    per_second: float = 0.0  # changes finished per second, recently
    updated_at: str = ""

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
