"""NATS JetStream layout shared by the services: streams, subjects, buckets, and how to connect.

One place names every subject, stream and bucket so producers and consumers cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum

import nats
from nats.aio.client import DEFAULT_INBOX_PREFIX
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
# Per-credential request counters all gateway replicas share (a JetStream counter stream, ADR-49).
RATE_LIMITS_STREAM = "RATE_LIMITS"

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
# Retrieval's document registry when it runs as replicas over a Qdrant server (versions, tombstones,
# content hashes, the applied DOCS sequence and the per-unit writer lease, keyed by unit).
RETRIEVAL_REGISTRY_BUCKET = "retrieval_registry"

# The one durable consumer of `docs.>` that versions before per-unit lanes used; ingest moves its
# position to the per-unit consumers at start and deletes it.
INGEST_DURABLE = "ingest"
INGEST_QUEUES_BUCKET = "ingest_queues"
# The gateway replicas share this durable consumer of `status.docs.>` (each outcome reaches one).
TEST_RUN_TRIGGER_DURABLE = "gateway-test-runs"

SCHEMA_VERSION = 1
SECONDS_PER_DAY = 86_400
DOCS_RETENTION_DAYS = 90
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
CONVERSATION_TTL_SECONDS = SECONDS_PER_DAY
QUEUE_READING_TTL_SECONDS = 3600
QUALITY_RETENTION_DAYS = 366
# A rate-limit window's counter is kept this long; the gateway's windows are at most half of it.
RATE_LIMIT_RETENTION_SECONDS = 600


def upsert_subject(unit: str) -> str:
    return f"docs.{unit}.upsert"


def delete_subject(unit: str) -> str:
    return f"docs.{unit}.delete"


# Bulk changes (operator imports, re-indexing, a unit's mass sync) travel on their own subjects so
# ingest serves a person's upload before a unit's bulk backlog without reading past it.
BULK_SEGMENT = "bulk"


def bulk_upsert_subject(unit: str) -> str:
    return f"docs.{unit}.{BULK_SEGMENT}.upsert"


def bulk_delete_subject(unit: str) -> str:
    return f"docs.{unit}.{BULK_SEGMENT}.delete"


class IngestLane(StrEnum):
    """Ingest's two queues per unit: interactive events are served before bulk ones."""

    INTERACTIVE = "interactive"
    BULK = "bulk"


def lane_filter(unit: str, lane: IngestLane) -> str:
    """The lane's share of `docs.<unit>.>`: three-token subjects (`docs.<unit>.upsert|delete`) are
    interactive, longer ones (`docs.<unit>.bulk.upsert|delete`) bulk; together they cover it all."""
    return f"docs.{unit}.*" if lane is IngestLane.INTERACTIVE else f"docs.{unit}.*.>"


def ingest_durable(unit: str, lane: IngestLane) -> str:
    """Durable consumer name of a unit's lane (unit ids hold no `_`, so names never collide)."""
    return f"ingest_{unit}" if lane is IngestLane.INTERACTIVE else f"ingest_{unit}_bulk"


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


RATE_LIMIT_FAMILY = "ratelimit"
RATE_LIMIT_TEMPLATE = "ratelimit.{credential}.{window}"


def rate_limit_subject(counter_key: str) -> str:
    """One counter per credential digest and window: `ratelimit.<digest>.<window index>`."""
    return f"{RATE_LIMIT_FAMILY}.{counter_key}"


# subject family -> index of the unit segment (docs.<unit>.upsert, status.docs.<unit>, ...)
_UNIT_SEGMENT = {"docs": 1, "questions": 1, "feedback": 1, "quality": 1, "status": 2, "deadletter": 2}
_ID_SEGMENT_NAMES = {"questions": "{question_id}", "feedback": "{question_id}"}


def subject_template(subject: str) -> tuple[str, str | None]:
    """(template, unit) of one of the subjects above: `docs.{unit}.upsert` and the unit, so
    telemetry names spans and labels metrics without one name per unit; others are unchanged."""
    parts = subject.split(".")
    if parts[0] == RATE_LIMIT_FAMILY:
        return RATE_LIMIT_TEMPLATE, None
    index = _UNIT_SEGMENT.get(parts[0])
    if index is None or len(parts) <= index or (index == 2 and parts[1] != "docs"):
        return subject, None
    unit = parts[index]
    parts[index] = "{unit}"
    id_name = _ID_SEGMENT_NAMES.get(parts[0])
    if id_name is not None and len(parts) > index + 1:
        parts[index + 1] = id_name
    return ".".join(parts), unit


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
            # Counters only (each publish adds to the subject's total); in memory, kept per subject as
            # one message, gone after the retention: a lost counter only resets a window.
            StreamConfig(
                name=RATE_LIMITS_STREAM,
                subjects=["ratelimit.>"],
                allow_msg_counter=True,
                max_msgs_per_subject=1,
                max_age=RATE_LIMIT_RETENTION_SECONDS,
                num_replicas=replicas,
                storage=StorageType.MEMORY,
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
            KeyValueConfig(
                bucket=INGEST_QUEUES_BUCKET, history=1, ttl=QUEUE_READING_TTL_SECONDS, replicas=self.replicas
            ),
            KeyValueConfig(bucket=TEST_QUESTIONS_BUCKET, history=1, replicas=self.replicas),
            KeyValueConfig(bucket=TEST_RUNS_BUCKET, history=1, replicas=self.replicas),
            KeyValueConfig(bucket=TEST_RUN_TRIGGERS_BUCKET, history=1, replicas=self.replicas),
            KeyValueConfig(bucket=RETRIEVAL_REGISTRY_BUCKET, history=1, replicas=self.replicas),
        ]

    def object_stores(self) -> list[ObjectStoreConfig]:
        return [ObjectStoreConfig(bucket=ORIGINALS_BUCKET, replicas=self.replicas)]


def inbox_prefix(user: str) -> str:
    """Where a client with this NATS identity receives replies (nats-py `inbox_prefix`)."""
    return f"_INBOX.{user}"


@dataclass(frozen=True, slots=True)
class NatsCredential:
    """A NATS user and its password; replies come back on the user's own inbox prefix, the only
    one its permissions let it read (trolyao/natsaccess.py)."""

    user: str
    password: str = field(repr=False)

    @property
    def inbox_prefix(self) -> str:
        return inbox_prefix(self.user)


async def connect(url: str, *, name: str, credential: NatsCredential | None = None) -> NatsClient:
    """Connect with reconnects that never give up: NATS restarts must not kill a service.

    Without a credential, one given in the URL (`nats://user:password@host:port`) is used.
    """
    return await nats.connect(
        servers=[server.strip() for server in url.split(",") if server.strip()],
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        user=credential.user if credential else None,
        password=credential.password if credential else None,
        inbox_prefix=credential.inbox_prefix if credential else DEFAULT_INBOX_PREFIX,
    )


async def ensure_layout(
    js: JetStreamContext, layout: JetStreamLayout | None = None, *, only: Collection[str] | None = None
) -> None:
    """Create (or update) every stream and bucket; safe to call from every service at start.

    `only` names the streams (`KV_<bucket>`, `OBJ_<bucket>` for buckets) a caller may manage: a
    service creates what it uses, nothing else (its NATS permissions say the same).
    An existing stream keeps its replication factor when it is higher than the layout's, so an
    operator tool started with the default (1) never lowers a cluster's R3 streams.
    """
    layout = layout or JetStreamLayout()

    def wanted(stream: str) -> bool:
        return only is None or stream in only

    for config in layout.streams():
        if not wanted(config.name or ""):
            continue
        try:
            info = await js.stream_info(config.name or "")
        except NotFoundError:
            await js.add_stream(config)
            continue
        config.num_replicas = max(config.num_replicas or 1, info.config.num_replicas or 1)
        await js.update_stream(config)
    for kv_config in layout.key_value_buckets():
        if not wanted(f"KV_{kv_config.bucket}"):
            continue
        try:
            await js.key_value(kv_config.bucket or "")
        except BucketNotFoundError:
            await js.create_key_value(kv_config)
    for os_config in layout.object_stores():
        if not wanted(f"OBJ_{os_config.bucket}"):
            continue
        try:
            await js.object_store(os_config.bucket or "")
        except (BucketNotFoundError, NotFoundError):
            await js.create_object_store(os_config.bucket or ORIGINALS_BUCKET, os_config)


__all__ = [
    "DiscardPolicy",
    "JetStreamLayout",
    "NatsCredential",
    "connect",
    "ensure_layout",
]
