"""What the gateway reads of ingest's lanes on the DOCS stream when it accepts an upload.

Two cheap JetStream requests, no message read: the lane's events kept in the stream (per-subject
totals), which numbers an upload's place in its lane, and a unit's bulk events not yet acknowledged
(its bulk lane consumer's own counts), which the bulk quota is checked against.
"""

from __future__ import annotations

import nats.js.errors
from nats.js import JetStreamContext

from trolyao.ingestqueue import lane_events_kept
from trolyao.messaging import DOCS_STREAM, IngestLane, ingest_durable, lane_filter

READ_TIMEOUT_SECONDS = 5.0


async def lane_events(js: JetStreamContext, unit: str, lane: IngestLane) -> int:
    """Events of the unit's lane the DOCS stream keeps (processed or not)."""
    kept = await lane_events_kept(js, lane_filter(unit, lane))
    return kept.get(unit, {}).get(lane, 0)


async def bulk_waiting(js: JetStreamContext, unit: str) -> int:
    """The unit's bulk events not yet acknowledged by ingest. Before ingest has opened the unit's
    bulk lane nothing of it is processed: every kept bulk event waits."""
    try:
        info = await js.consumer_info(
            DOCS_STREAM, ingest_durable(unit, IngestLane.BULK), timeout=READ_TIMEOUT_SECONDS
        )
    except nats.js.errors.NotFoundError:
        return await lane_events(js, unit, IngestLane.BULK)
    return int(info.num_pending or 0) + int(info.num_ack_pending or 0)
