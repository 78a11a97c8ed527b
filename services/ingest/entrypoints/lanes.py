"""Ingest's per-unit lanes on the DOCS stream: two durable pull consumers per unit.

`ingest_<unit>` filters `docs.<unit>.*` (interactive: the gateway's uploads and a unit's own
events) and `ingest_<unit>_bulk` filters `docs.<unit>.*.>` (bulk: imports, re-indexing). Units are
found from the stream's subjects and their consumers made the first time one of their events is
seen. Versions before lanes had one durable `ingest` on `docs.>`: its position is carried over (new
lanes start after its ack floor) and it is deleted once every known unit has its lanes.
"""

from __future__ import annotations

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.ingest.settings import IngestSettings
from trolyao.logs import get_logger
from trolyao.messaging import (
    DOCS_STREAM,
    INGEST_DURABLE,
    IngestLane,
    ingest_durable,
    lane_filter,
)

log = get_logger("ingest")

MAX_ACK_PENDING_PER_LANE = 1000
READ_TIMEOUT_SECONDS = 5.0


def lane_config(
    unit: str, lane: IngestLane, settings: IngestSettings, *, start_sequence: int | None
) -> ConsumerConfig:
    """The durable consumer of one unit's lane; `start_sequence` when taking over from `ingest`."""
    name = ingest_durable(unit, lane)
    config = ConsumerConfig(
        name=name,
        durable_name=name,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=settings.ack_wait_seconds,
        max_deliver=settings.max_deliver,
        max_ack_pending=MAX_ACK_PENDING_PER_LANE,
        filter_subject=lane_filter(unit, lane),
    )
    if start_sequence is not None:
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = start_sequence
    return config


async def legacy_start_sequence(js: JetStreamContext) -> int | None:
    """First sequence the old `ingest` durable had not acknowledged; None when it is gone."""
    try:
        info = await js.consumer_info(DOCS_STREAM, INGEST_DURABLE, timeout=READ_TIMEOUT_SECONDS)
    except nats.js.errors.NotFoundError:
        return None
    floor = info.ack_floor.stream_seq if info.ack_floor is not None else None
    return int(floor or 0) + 1


async def retire_legacy(js: JetStreamContext) -> None:
    try:
        await js.delete_consumer(DOCS_STREAM, INGEST_DURABLE)
        log.info("legacy_consumer_retired", durable=INGEST_DURABLE)
    except nats.js.errors.NotFoundError:
        pass


async def subscribe_lane(
    js: JetStreamContext,
    unit: str,
    lane: IngestLane,
    settings: IngestSettings,
    *,
    start_sequence: int | None,
) -> JetStreamContext.PullSubscription:
    """Bind to the lane's durable consumer, creating it the first time (peers may race: both
    create the same config, or one finds the other's)."""
    name = ingest_durable(unit, lane)
    try:
        await js.consumer_info(DOCS_STREAM, name, timeout=READ_TIMEOUT_SECONDS)
    except nats.js.errors.NotFoundError:
        config = lane_config(unit, lane, settings, start_sequence=start_sequence)
        try:
            await js.add_consumer(DOCS_STREAM, config=config, timeout=READ_TIMEOUT_SECONDS)
            log.info("lane_created", unit=unit, lane=lane.value, start_sequence=start_sequence)
        except nats.js.errors.BadRequestError:  # a peer made it first with another start
            pass
    return await js.pull_subscribe_bind(durable=name, stream=DOCS_STREAM)
