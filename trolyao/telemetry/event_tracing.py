"""Trace context through NATS: W3C `traceparent` in message headers, producer and consumer spans.

Publishing: `instrument_jetstream_publish()` (called by `configure_telemetry`) wraps nats-py's
`JetStreamContext.publish` once per process, the way OpenTelemetry's own instrumentations wrap a
client library: every event published on a trolyao subject gets a PRODUCER span and the current
trace context in its headers, whoever publishes it (gateway uploads, ingest status and dead
letters, question records). JetStream's own subjects (`$KV.…`, `$O.…`: key-value and object-store
writes) are left untouched.

Consuming: `consume_span(message, consumer=...)` is the CONSUMER span a handler runs in, a child
of the publisher's span, so one trace runs gateway → NATS → ingest → retrieval.
`observe_event_applied` records how long the event took to become searchable.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind

from trolyao.messaging import subject_template
from trolyao.telemetry import attributes as attr
from trolyao.telemetry.instruments import LABEL_OPERATION, LABEL_OUTCOME, LABEL_UNIT, trolyao_metrics

TRACER_NAME = "trolyao.messaging"
JETSTREAM_INTERNAL_PREFIX = "$"
PUBLISH_OPERATION = "publish"
PROCESS_OPERATION = "process"
MESSAGE_ID_HEADER = "Nats-Msg-Id"
NANOSECONDS = 1_000_000_000
_INSTRUMENTED_MARKER = "_trolyao_traced"

Publish = Callable[..., Awaitable[Any]]


def inject_trace_headers(headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of `headers` with the current trace context added (`traceparent`, `tracestate`)."""
    carrier = dict(headers or {})
    propagate.inject(carrier)
    return carrier


def extract_trace_context(headers: Mapping[str, str] | None) -> Any:
    """The trace context a publisher put in the headers (an empty context when there is none)."""
    return propagate.extract(dict(headers or {}))


def _destination_attributes(subject: str) -> tuple[str, dict[str, Any]]:
    template, unit = subject_template(subject)
    attributes: dict[str, Any] = {
        attr.MESSAGING_SYSTEM: attr.NATS,
        attr.MESSAGING_DESTINATION: subject,
        attr.MESSAGING_DESTINATION_TEMPLATE: template,
    }
    if unit is not None:
        attributes[attr.UNIT] = unit
    return template, attributes


def traced_publish(original: Publish) -> Publish:
    """Wrap a `JetStreamContext.publish`: PRODUCER span plus trace headers on trolyao subjects."""
    tracer = trace.get_tracer(TRACER_NAME)

    @functools.wraps(original)
    async def publish(
        self: JetStreamContext,
        subject: str,
        payload: bytes = b"",
        timeout: float | None = None,
        stream: str | None = None,
        headers: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        if subject.startswith(JETSTREAM_INTERNAL_PREFIX):
            return await original(self, subject, payload, timeout, stream, headers, **kwargs)
        template, attributes = _destination_attributes(subject)
        attributes[attr.MESSAGING_OPERATION] = PUBLISH_OPERATION
        attributes[attr.MESSAGING_BODY_SIZE] = len(payload)
        if headers and MESSAGE_ID_HEADER in headers:
            attributes[attr.MESSAGING_MESSAGE_ID] = str(headers[MESSAGE_ID_HEADER])
        with tracer.start_as_current_span(
            f"{PUBLISH_OPERATION} {template}", kind=SpanKind.PRODUCER, attributes=attributes
        ) as span:
            ack = await original(
                self, subject, payload, timeout, stream, inject_trace_headers(headers), **kwargs
            )
            if span.is_recording() and ack is not None:
                span.set_attribute(attr.NATS_STREAM, str(getattr(ack, "stream", "")))
                span.set_attribute(attr.NATS_STREAM_SEQUENCE, int(getattr(ack, "seq", 0) or 0))
            return ack

    setattr(publish, _INSTRUMENTED_MARKER, True)
    return publish


def instrument_jetstream_publish() -> None:
    """Trace every JetStream publish in this process (idempotent)."""
    current = JetStreamContext.publish
    if getattr(current, _INSTRUMENTED_MARKER, False):
        return
    setattr(JetStreamContext, "publish", traced_publish(current))  # noqa: B010 - a method, replaced


def uninstrument_jetstream_publish() -> None:
    """Undo `instrument_jetstream_publish` (tests)."""
    current = JetStreamContext.publish
    if getattr(current, _INSTRUMENTED_MARKER, False):
        setattr(JetStreamContext, "publish", getattr(current, "__wrapped__"))  # noqa: B009, B010


def _message_metadata(message: Msg) -> Any:
    try:
        return message.metadata
    except Exception:  # a core NATS message (no JetStream ack subject) has no metadata
        return None


@contextmanager
def consume_span(message: Msg, *, consumer: str) -> Iterator[Span]:
    """The CONSUMER span a handler runs in, continuing the trace found in the message's headers."""
    template, attributes = _destination_attributes(message.subject)
    attributes[attr.MESSAGING_OPERATION] = PROCESS_OPERATION
    attributes[attr.MESSAGING_CONSUMER_GROUP] = consumer
    attributes[attr.MESSAGING_BODY_SIZE] = len(message.data or b"")
    headers = message.headers or {}
    if MESSAGE_ID_HEADER in headers:
        attributes[attr.MESSAGING_MESSAGE_ID] = str(headers[MESSAGE_ID_HEADER])
    metadata = _message_metadata(message)
    if metadata is not None:
        attributes[attr.NATS_STREAM] = str(metadata.stream)
        attributes[attr.NATS_DELIVERY_COUNT] = int(metadata.num_delivered or 1)
        if metadata.sequence is not None:
            attributes[attr.NATS_STREAM_SEQUENCE] = int(metadata.sequence.stream)
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(
        f"{PROCESS_OPERATION} {template}",
        context=extract_trace_context(headers),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
    ) as span:
        yield span


def event_age_seconds(message: Msg) -> float | None:
    """Seconds since JetStream stored the message (None for a message without JetStream metadata)."""
    metadata = _message_metadata(message)
    if metadata is None or metadata.timestamp is None:
        return None
    return max(0.0, time.time() - float(metadata.timestamp.timestamp()))


def observe_event_applied(message: Msg, *, unit: str, outcome: str) -> None:
    """Record the event-to-searchable latency of a document event that was applied.

    Measured from the moment JetStream stored the event to now (after the index changed and the
    message was acknowledged), per unit and outcome (indexed, unchanged, stale, deleted, ...).
    """
    age = event_age_seconds(message)
    operation = message.subject.rsplit(".", 1)[-1]
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute(attr.OUTCOME, outcome)
        if age is not None:
            span.set_attribute(attr.EVENT_LAG_SECONDS, round(age, 3))
    if age is not None:
        trolyao_metrics().event_to_searchable.record(
            age, {LABEL_UNIT: unit, LABEL_OUTCOME: outcome, LABEL_OPERATION: operation}
        )
