"""The append-only audit trail on a JetStream stream (see security_layout for its configuration).

Appends are synchronous publishes acknowledged by JetStream (the caller fails when the trail
cannot be written: a security event that cannot be recorded does not happen). Reads use an
ephemeral, in-memory, ack-less pull consumer starting at a sequence or a time, deleted afterwards.
JetStream only delivers forwards, so a newest-first read (`scan_backward`) reads windows of
sequences forwards, newest window first, and hands each one back reversed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.ops.identity.adapters.security_layout import audit_subject_filter
from services.ops.identity.domain.audit import AuditEvent, Outcome
from trolyao.audit import AUDIT_STREAM, audit_subject

SCAN_BATCH = 256
FETCH_TIMEOUT_SECONDS = 2.0
CONSUMER_IDLE_SECONDS = 60.0
PUBLISH_TIMEOUT_SECONDS = 5.0
# Newest-first windows, in stream sequences: the first is small (a page is usually near the end),
# each next one twice as wide; a window that delivered events stays under the held cap (they are
# held in memory to be reversed), an empty one (another category) may grow further.
BACKWARD_FIRST_WINDOW = 512
BACKWARD_HELD_WINDOW = 16_384
BACKWARD_EMPTY_WINDOW = 1 << 20


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
        config = _reader_config()
        if after_sequence:
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = after_sequence + 1
        elif since is not None:
            config.deliver_policy = DeliverPolicy.BY_START_TIME
            config.opt_start_time = since
        async with aclosing(self._read(audit_subject_filter(category), config)) as messages:
            async for message in messages:
                yield decode_event(message.data, int(message.metadata.sequence.stream))

    async def scan_backward(
        self, *, category: str, before_sequence: int = 0, since: datetime | None = None
    ) -> AsyncGenerator[AuditEvent, None]:
        """Events of `category` (all when empty) before `before_sequence` (0: from the newest), back to
        `since` (by the stream's time, as the forward scan starts), newest first."""
        info = await self._js.stream_info(AUDIT_STREAM)
        if info.state.messages == 0:
            return
        top = int(info.state.last_seq) + 1
        if before_sequence:
            top = min(top, before_sequence)
        floor = max(1, int(info.state.first_seq or 1))
        if since is not None:
            floor = max(floor, await self._first_sequence_since(since) or top)
        window, subject = BACKWARD_FIRST_WINDOW, audit_subject_filter(category)
        while top > floor:
            start = max(floor, top - window)
            config = _reader_config()
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = start
            held: list[AuditEvent] = []
            async with aclosing(self._read(subject, config, below=top)) as messages:
                async for message in messages:
                    held.append(decode_event(message.data, int(message.metadata.sequence.stream)))
            for event in reversed(held):
                yield event
            top = start
            window = min(window * 2, BACKWARD_HELD_WINDOW if held else BACKWARD_EMPTY_WINDOW)

    async def _first_sequence_since(self, since: datetime) -> int | None:
        """The first stream sequence stored at or after `since` (None when there is none)."""
        config = _reader_config()
        config.deliver_policy = DeliverPolicy.BY_START_TIME
        config.opt_start_time = since
        async with aclosing(self._read(audit_subject_filter(""), config, at_most=1)) as messages:
            async for message in messages:
                return int(message.metadata.sequence.stream)
        return None

    async def _read(
        self, subject: str, config: ConsumerConfig, *, below: int = 0, at_most: int = 0
    ) -> AsyncGenerator[Msg, None]:
        """Messages from an ephemeral consumer with `config`, until none is pending (or the first at
        or past sequence `below`, or `at_most` of them); the consumer is deleted afterwards."""
        subscription = await self._js.pull_subscribe(subject, stream=AUDIT_STREAM, config=config)
        consumer, delivered = "", 0
        try:
            consumer_info = await subscription.consumer_info()
            consumer, pending = consumer_info.name, int(consumer_info.num_pending or 0)
            while pending > 0:
                batch = min(SCAN_BATCH, pending, at_most - delivered if at_most else SCAN_BATCH)
                try:
                    messages = await subscription.fetch(batch, timeout=FETCH_TIMEOUT_SECONDS)
                except nats.errors.TimeoutError:
                    return
                for message in messages:
                    pending = int(message.metadata.num_pending)
                    if below and int(message.metadata.sequence.stream) >= below:
                        return
                    yield message
                    delivered += 1
                    if at_most and delivered >= at_most:
                        return
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
            if consumer:
                with contextlib.suppress(Exception):
                    await self._js.delete_consumer(AUDIT_STREAM, consumer)


def _reader_config() -> ConsumerConfig:
    return ConsumerConfig(
        ack_policy=AckPolicy.NONE,
        inactive_threshold=CONSUMER_IDLE_SECONDS,
        mem_storage=True,
        num_replicas=1,
    )
