"""NATS JetStream layout shared by the services: streams, subjects, buckets, and how to connect.

One place names every subject, stream and bucket so producers and consumers cannot drift apart.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    KeyValueConfig,
    ObjectStoreConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BucketNotFoundError, NotFoundError

UNIT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

DOCS_STREAM = "DOCS"
STATUS_STREAM = "DOC_STATUS"
DEADLETTER_STREAM = "DEADLETTER"
QUESTIONS_STREAM = "QUESTIONS"
FEEDBACK_STREAM = "FEEDBACK"
QUALITY_STREAM = "QUALITY"

DOC_STATUS_BUCKET = "doc_status"
UNITS_BUCKET = "units"
API_KEYS_BUCKET = "api_keys"
ORIGINALS_BUCKET = "originals"
CONVERSATIONS_BUCKET = "conversations"
FAQ_ENTRIES_BUCKET = "faq_entries"
# A unit's test questions, its test runs, and knowledge changes waiting for a run (gateway).
TEST_QUESTIONS_BUCKET = "test_questions"
TEST_RUNS_BUCKET = "test_runs"
TEST_RUN_TRIGGERS_BUCKET = "test_run_triggers"

INGEST_DURABLE = "ingest"
# The gateway replicas share this durable consumer of `status.docs.>` (each outcome reaches one).
TEST_RUN_TRIGGER_DURABLE = "gateway-test-runs"

SCHEMA_VERSION = 1
SECONDS_PER_DAY = 86_400
DOCS_RETENTION_DAYS = 90
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
CONVERSATION_TTL_SECONDS = SECONDS_PER_DAY
QUALITY_RETENTION_DAYS = 366


def upsert_subject(unit: str) -> str:
    return f"docs.{unit}.upsert"


def delete_subject(unit: str) -> str:
    return f"docs.{unit}.delete"


def status_subject(unit: str) -> str:
    return f"status.docs.{unit}"


def deadletter_subject(unit: str) -> str:
    return f"deadletter.docs.{unit}"


# Replays after a restore (core NATS request/reply, see proto/trolyao/v1/snapshots.proto).
REPLAY_SUBJECT_PREFIX = "ops.replay"
REPLAY_QUEUE_GROUP = "ingest-replay"


def replay_subject(unit: str) -> str:
    """Where ops asks ingest to replay a unit's document events."""
    return f"{REPLAY_SUBJECT_PREFIX}.{unit}"


def unit_docs_filter(unit: str) -> str:
    """Every document event of one unit on the DOCS stream."""
    return f"docs.{unit}.>"


def question_subject(unit: str, question_id: str) -> str:
    """One subject per question, so a question is found by id (feedback checks it exists)."""
    return f"questions.{unit}.{question_id}"


def question_filters(unit: str | None = None) -> list[str]:
    """Subjects of a unit's question records (every unit's when None); `questions.<unit>` is the
    pre-id form older records used."""
    if unit is None:
        return ["questions.>"]
    return [f"questions.{unit}", f"questions.{unit}.>"]


def feedback_subject(unit: str, question_id: str) -> str:
    return f"feedback.{unit}.{question_id}"


def feedback_filters(unit: str | None = None) -> list[str]:
    return ["feedback.>"] if unit is None else [f"feedback.{unit}.>"]


def status_filter() -> str:
    """Every unit's document outcomes (DocumentIndexed / DocumentFailed)."""
    return "status.docs.>"


def regression_subject(unit: str) -> str:
    """Where the gateway publishes a unit's test-question regressions (TestRegressed, JSON)."""
    return f"quality.{unit}.regression"


# subject family -> index of the unit segment (docs.<unit>.upsert, status.docs.<unit>, ...)
_UNIT_SEGMENT = {"docs": 1, "questions": 1, "feedback": 1, "quality": 1, "status": 2, "deadletter": 2}
_ID_SEGMENT_NAMES = {"questions": "{question_id}", "feedback": "{question_id}"}


def subject_template(subject: str) -> tuple[str, str | None]:
    """(template, unit) of one of the subjects above: `docs.{unit}.upsert` and the unit, so
    telemetry names spans and labels metrics without one name per unit; others are unchanged."""
    parts = subject.split(".")
    index = _UNIT_SEGMENT.get(parts[0])
    if index is None or len(parts) <= index or (index == 2 and parts[1] != "docs"):
        return subject, None
    unit = parts[index]
    parts[index] = "{unit}"
    id_name = _ID_SEGMENT_NAMES.get(parts[0])
    if id_name is not None and len(parts) > index + 1:
        parts[index + 1] = id_name
    return ".".join(parts), unit


def document_key(unit: str, document_id: str) -> str:
    """A KV key for (unit, document id); ids may hold any character, keys may not."""
    encoded = base64.urlsafe_b64encode(document_id.encode()).decode().rstrip("=")
    return f"{unit}.{encoded}"


def document_id_from_key(key: str) -> tuple[str, str]:
    unit, _, encoded = key.partition(".")
    padded = encoded + "=" * (-len(encoded) % 4)
    return unit, base64.urlsafe_b64decode(padded).decode()


def original_object_name(unit: str, document_id: str, version: int) -> str:
    return f"{document_key(unit, document_id)}/{version}"


@dataclass(frozen=True, slots=True)
class JetStreamLayout:
    """Streams and buckets the stack needs, with their replication factor (1 on one machine)."""

    replicas: int = 1

    def streams(self) -> list[StreamConfig]:
        replicas, storage = self.replicas, StorageType.FILE
        return [
            StreamConfig(
                name=DOCS_STREAM,
                subjects=["docs.>"],
                retention=RetentionPolicy.LIMITS,
                max_age=DOCS_RETENTION_DAYS * SECONDS_PER_DAY,
                max_msg_size=MAX_MESSAGE_BYTES,
                duplicate_window=120,
                num_replicas=replicas,
                storage=storage,
            ),
            StreamConfig(
                name=STATUS_STREAM,
                subjects=["status.>"],
                max_age=30 * SECONDS_PER_DAY,
                num_replicas=replicas,
                storage=storage,
            ),
            StreamConfig(
                name=DEADLETTER_STREAM, subjects=["deadletter.>"], num_replicas=replicas, storage=storage
            ),
            StreamConfig(
                name=QUESTIONS_STREAM, subjects=["questions.>"], num_replicas=replicas, storage=storage
            ),
            StreamConfig(
                name=FEEDBACK_STREAM, subjects=["feedback.>"], num_replicas=replicas, storage=storage
            ),
            StreamConfig(
                name=QUALITY_STREAM,
                subjects=["quality.>"],
                max_age=QUALITY_RETENTION_DAYS * SECONDS_PER_DAY,
                num_replicas=replicas,
                storage=storage,
            ),
        ]

    def key_value_buckets(self) -> list[KeyValueConfig]:
        return [
            KeyValueConfig(bucket=DOC_STATUS_BUCKET, history=1, replicas=self.replicas),
            KeyValueConfig(bucket=UNITS_BUCKET, history=5, replicas=self.replicas),
            KeyValueConfig(bucket=API_KEYS_BUCKET, history=1, replicas=self.replicas),
            KeyValueConfig(
                bucket=CONVERSATIONS_BUCKET, history=1, ttl=CONVERSATION_TTL_SECONDS, replicas=self.replicas
            ),
            KeyValueConfig(bucket=FAQ_ENTRIES_BUCKET, history=1, replicas=self.replicas),
            KeyValueConfig(bucket=TEST_QUESTIONS_BUCKET, history=1, replicas=self.replicas),
            KeyValueConfig(bucket=TEST_RUNS_BUCKET, history=1, replicas=self.replicas),
            KeyValueConfig(bucket=TEST_RUN_TRIGGERS_BUCKET, history=1, replicas=self.replicas),
        ]

    def object_stores(self) -> list[ObjectStoreConfig]:
        return [ObjectStoreConfig(bucket=ORIGINALS_BUCKET, replicas=self.replicas)]


async def connect(url: str, *, name: str) -> NatsClient:
    """Connect with reconnects that never give up: NATS restarts must not kill a service."""
    return await nats.connect(
        servers=[server.strip() for server in url.split(",") if server.strip()],
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
    )


async def ensure_layout(js: JetStreamContext, layout: JetStreamLayout | None = None) -> None:
    """Create (or update) every stream and bucket; safe to call from every service at start.

    An existing stream keeps its replication factor when it is higher than the layout's, so an
    operator tool started with the default (1) never lowers a cluster's R3 streams.
    """
    layout = layout or JetStreamLayout()
    for config in layout.streams():
        try:
            info = await js.stream_info(config.name or "")
        except NotFoundError:
            await js.add_stream(config)
            continue
        config.num_replicas = max(config.num_replicas or 1, info.config.num_replicas or 1)
        await js.update_stream(config)
    for kv_config in layout.key_value_buckets():
        try:
            await js.key_value(kv_config.bucket or "")
        except BucketNotFoundError:
            await js.create_key_value(kv_config)
    for os_config in layout.object_stores():
        try:
            await js.object_store(os_config.bucket or "")
        except (BucketNotFoundError, NotFoundError):
            await js.create_object_store(os_config.bucket or ORIGINALS_BUCKET, os_config)


__all__ = [
    "DiscardPolicy",
    "JetStreamLayout",
    "connect",
    "ensure_layout",
]
