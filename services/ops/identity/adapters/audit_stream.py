"""The append-only audit trail on a JetStream stream (see security_layout for its configuration).

Appends are synchronous publishes acknowledged by JetStream (the caller fails when the trail
cannot be written: a security event that cannot be recorded does not happen). Reads use an
ephemeral, in-memory, ack-less pull consumer starting at a sequence or a time, deleted afterwards.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.ops.identity.adapters.security_layout import audit_subject_filter
from services.ops.identity.domain.audit import AuditEvent, Outcome
from trolyao.audit import AUDIT_STREAM, audit_subject

SCAN_BATCH = 256
FETCH_TIMEOUT_SECONDS = 2.0
CONSUMER_IDLE_SECONDS = 60.0
PUBLISH_TIMEOUT_SECONDS = 5.0


def encode_event(event: AuditEvent) -> bytes:
    record: dict[str, Any] = asdict(event)
    record.pop("sequence")
    record["outcome"] = event.outcome.value
    record["details"] = dict(event.details)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


def decode_event(data: bytes, sequence: int) -> AuditEvent:
    raw = json.loads(data)
    return AuditEvent(
        event_id=str(raw["event_id"]),
        occurred_at=str(raw["occurred_at"]),
        actor=str(raw["actor"]),
        action=str(raw["action"]),
        outcome=Outcome(raw["outcome"]),
        client_address=str(raw.get("client_address", "")),
        target=str(raw.get("target", "")),
        unit=str(raw.get("unit", "")),
        reason=str(raw.get("reason", "")),
        details={str(k): str(v) for k, v in dict(raw.get("details", {})).items()},
        schema_version=int(raw.get("schema_version", 1)),
        sequence=sequence,
    )


class AuditTrail:
    """Append and scan the audit stream."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def append(self, event: AuditEvent) -> AuditEvent:
        """Publish `event` (deduplicated by its id); returns it with its stream sequence."""
        ack = await self._js.publish(
            audit_subject(event.category),
            encode_event(event),
            timeout=PUBLISH_TIMEOUT_SECONDS,
            stream=AUDIT_STREAM,
            headers={"Nats-Msg-Id": event.event_id},
        )
        return replace(event, sequence=int(ack.seq))

    async def scan(
        self, *, category: str, after_sequence: int = 0, since: datetime | None = None
    ) -> AsyncGenerator[AuditEvent, None]:
        """Events of `category` (all when empty) after `after_sequence`, or from `since`, oldest first."""
        info = await self._js.stream_info(AUDIT_STREAM)
        if info.state.last_seq <= after_sequence or info.state.messages == 0:
            return
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            inactive_threshold=CONSUMER_IDLE_SECONDS,
            mem_storage=True,
            num_replicas=1,
        )
        if after_sequence:
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = after_sequence + 1
        elif since is not None:
            config.deliver_policy = DeliverPolicy.BY_START_TIME
            config.opt_start_time = since
        subscription = await self._js.pull_subscribe(
            audit_subject_filter(category), stream=AUDIT_STREAM, config=config
        )
        consumer = ""
        try:
            consumer_info = await subscription.consumer_info()
            consumer, pending = consumer_info.name, int(consumer_info.num_pending or 0)
            while pending > 0:
                try:
                    messages = await subscription.fetch(
                        min(SCAN_BATCH, pending), timeout=FETCH_TIMEOUT_SECONDS
                    )
                except nats.errors.TimeoutError:
                    return
                for message in messages:
                    pending = int(message.metadata.num_pending)
                    yield decode_event(message.data, int(message.metadata.sequence.stream))
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
            if consumer:
                with contextlib.suppress(Exception):
                    await self._js.delete_consumer(AUDIT_STREAM, consumer)
