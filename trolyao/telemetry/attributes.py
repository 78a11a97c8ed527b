"""Span and metric attribute names used across trolyao (one place, so dashboards can rely on them).

Where OpenTelemetry's semantic conventions name a thing, their name is used; trolyao's own
attributes live under `trolyao.`. None of them carries question text or document content:
those go in only under `content_tracing_enabled()` (`TROLYAO_TRACE_CONTENT=true`).
"""

from __future__ import annotations

UNIT = "trolyao.unit"
DOCUMENT_ID = "trolyao.document.id"
DOCUMENT_VERSION = "trolyao.document.version"
OUTCOME = "trolyao.outcome"
ANSWERED = "trolyao.answer.answered"
ANSWER_SOURCE = "trolyao.answer.source"
ANSWER_CONFIDENCE = "trolyao.answer.confidence"
# The unit's own abstention threshold, when it has one.
ABSTAIN_BELOW = "trolyao.answer.abstain_below"
CITATION_COUNT = "trolyao.answer.citations"
RESULT_COUNT = "trolyao.results"
LIMIT = "trolyao.limit"
CHUNK_COUNT = "trolyao.chunks"
EVENT_LAG_SECONDS = "trolyao.event.lag_seconds"
COMPONENT = "trolyao.component"

# Present only when content tracing is on.
QUESTION_TEXT = "trolyao.question.text"
DOCUMENT_TITLE = "trolyao.document.title"

# OpenTelemetry semantic conventions (messaging, rpc).
MESSAGING_SYSTEM = "messaging.system"
MESSAGING_OPERATION = "messaging.operation.type"
MESSAGING_DESTINATION = "messaging.destination.name"
MESSAGING_DESTINATION_TEMPLATE = "messaging.destination.template"
MESSAGING_MESSAGE_ID = "messaging.message.id"
MESSAGING_BODY_SIZE = "messaging.message.body.size"
MESSAGING_CONSUMER_GROUP = "messaging.consumer.group.name"
NATS_STREAM = "messaging.nats.stream"
NATS_STREAM_SEQUENCE = "messaging.nats.stream.sequence"
NATS_DELIVERY_COUNT = "messaging.nats.delivery_count"
RPC_SYSTEM = "rpc.system"
RPC_SERVICE = "rpc.service"
RPC_METHOD = "rpc.method"
RPC_STATUS_CODE = "rpc.grpc.status_code"

NATS = "nats"
