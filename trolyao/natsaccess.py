"""Who may do what on NATS: one identity per service, and per-unit event credentials.

The grants are written as nats-server subject permissions (publish / subscribe allow lists), so the
server enforces them; this module only names them, next to the subjects of `trolyao.messaging`.
A JetStream stream is granted through its API subjects (`$JS.API.<verb>.<verb>.<stream>...`), its
acknowledgement and flow-control subjects, and its own subjects; a Key-Value bucket is the stream
`KV_<bucket>` plus `$KV.<bucket>.>`; an object-store bucket is `OBJ_<bucket>` plus `$O.<bucket>.>`.
Every identity receives replies only on its own inbox prefix (`_INBOX.<user>`), so no client can read
the replies sent to another (a KV read's reply carries the record).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from trolyao.audit import audit_subject
from trolyao.messaging import (
    API_KEYS_BUCKET,
    CONVERSATIONS_BUCKET,
    DEADLETTER_STREAM,
    DOC_STATUS_BUCKET,
    DOCS_STREAM,
    FAQ_ENTRIES_BUCKET,
    FEEDBACK_STREAM,
    INGEST_QUEUES_BUCKET,
    ORIGINALS_BUCKET,
    QUALITY_STREAM,
    QUESTIONS_STREAM,
    RATE_LIMITS_STREAM,
    REPLAY_SUBJECT_PREFIX,
    RETRIEVAL_REGISTRY_BUCKET,
    STATUS_STREAM,
    TEST_QUESTIONS_BUCKET,
    TEST_RUN_TRIGGERS_BUCKET,
    TEST_RUNS_BUCKET,
    UNITS_BUCKET,
    inbox_prefix,
    unit_docs_filter,
)

GATEWAY = "gateway"
INGEST = "ingest"
OPS = "ops"
RETRIEVAL = "retrieval"
# The ministry's operator (admin CLI, `trolyao run`'s own tools, tests): every subject.
OPERATOR = "operator"
SERVICE_IDENTITIES = (GATEWAY, INGEST, OPS, RETRIEVAL)
UNIT_USER_PREFIX = "unit-"
UNIT_ORIGINALS_PREFIX = "originals_"
# ops' own buckets and audit stream (services/ops/adapters/security_layout.py names them).
OPS_SECURITY_BUCKETS = (
    "ops_accounts",
    "ops_sessions",
    "ops_login_challenges",
    "ops_throttle",
    "ops_signing_keys",
    "ops_security_policy",
)
OPS_AUDIT_STREAM = "OPS_AUDIT"
# The units' test questions, their runs, and the pending-run triggers (gateway).
QUALITY_BUCKETS = (TEST_QUESTIONS_BUCKET, TEST_RUNS_BUCKET, TEST_RUN_TRIGGERS_BUCKET)
OPS_AUDIT_SUBJECTS = "audit.>"


def kv_stream(bucket: str) -> str:
    return f"KV_{bucket}"


def object_stream(bucket: str) -> str:
    return f"OBJ_{bucket}"


def unit_originals_bucket(unit: str) -> str:
    """The object-store bucket a unit's own systems upload originals into (only they and the
    services can write it: object names are base64 in subjects, so a name prefix cannot be granted)."""
    return f"{UNIT_ORIGINALS_PREFIX}{unit}"


@dataclass(frozen=True, slots=True)
class Grant:
    """The permissions of one NATS user, as nats-server config takes them."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    publish_deny: tuple[str, ...] = ()
    allow_responses: bool = False


@dataclass(frozen=True, slots=True)
class ServiceAccess:
    """What one service uses on NATS; its grant and the layout it may create both derive from it."""

    streams: tuple[str, ...] = ()
    key_value_buckets: tuple[str, ...] = ()
    object_buckets: tuple[str, ...] = ()
    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()
    extra_streams: tuple[str, ...] = ()
    # Reads the originals units upload into their own buckets (granted bucket by bucket).
    reads_unit_originals: bool = False
    # Creates (and snapshots) the units' own originals buckets (ops, when a credential is issued).
    manages_unit_originals: bool = False
    allow_responses: bool = False
    may_delete_streams: bool = False

    def stream_names(self) -> set[str]:
        """Every stream this service may create or update (its buckets' streams included)."""
        return (
            set(self.streams)
            | set(self.extra_streams)
            | {kv_stream(bucket) for bucket in self.key_value_buckets}
            | {object_stream(bucket) for bucket in self.object_buckets}
        )

    def grant(self, user: str, *, unit_buckets: Iterable[str] = ()) -> Grant:
        """`unit_buckets`: the units' own originals buckets that exist (granted only if this
        service reads them; a subject wildcard cannot stand for part of a stream name)."""
        publish = ["$JS.API.INFO", "$JS.API.STREAM.NAMES", *self.publish]
        for stream in sorted(self.stream_names()):
            publish += _stream_api(stream, may_delete=self.may_delete_streams)
        if self.reads_unit_originals:
            # Stream info (config and counts, no message) answers "no such bucket" at once.
            publish.append("$JS.API.STREAM.INFO.*")
            for bucket in sorted(unit_buckets):
                publish += _read_only_stream_api(object_stream(bucket))
        if self.manages_unit_originals:
            for bucket in sorted(unit_buckets):
                publish += _stream_api(object_stream(bucket), may_delete=self.may_delete_streams)
                publish.append(f"$O.{bucket}.>")
        publish += [f"$KV.{bucket}.>" for bucket in self.key_value_buckets]
        publish += [f"$O.{bucket}.>" for bucket in self.object_buckets]
        deny = () if self.may_delete_streams else ("$JS.API.STREAM.DELETE.>",)
        subscribe = (f"{inbox_prefix(user)}.>", *self.subscribe)
        return Grant(
            publish=tuple(publish),
            subscribe=subscribe,
            publish_deny=deny,
            allow_responses=self.allow_responses,
        )


def _stream_api(stream: str, *, may_delete: bool) -> list[str]:
    """Manage and consume one stream: create/update/info/purge, messages, consumers, acks and
    flow control. Every verb is spelled out: a wildcard in a verb's place would also match
    `CONSUMER.CREATE.<another stream>.<a consumer named like this stream>`."""
    subjects = [
        f"$JS.API.STREAM.{verb}.{stream}"
        for verb in ("INFO", "CREATE", "UPDATE", "PURGE", "MSG.GET", "MSG.DELETE")
    ]
    subjects += [f"$JS.API.DIRECT.GET.{stream}", f"$JS.API.DIRECT.GET.{stream}.>"]
    subjects += [f"$JS.API.CONSUMER.{verb}.{stream}" for verb in ("CREATE", "NAMES", "LIST")]
    subjects += [
        f"$JS.API.CONSUMER.{verb}.{stream}.>"
        for verb in ("CREATE", "DURABLE.CREATE", "INFO", "DELETE", "MSG.NEXT")
    ]
    subjects += [f"$JS.ACK.{stream}.>", f"$JS.FC.{stream}.>"]
    if may_delete:
        subjects.append(f"$JS.API.STREAM.DELETE.{stream}")
    return subjects


def _read_only_stream_api(stream: str) -> list[str]:
    """Read one stream: info, single messages, and ordered consumers (what an object get uses)."""
    return [
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.STREAM.MSG.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
        f"$JS.API.CONSUMER.CREATE.{stream}",
        f"$JS.API.CONSUMER.CREATE.{stream}.>",
        f"$JS.API.CONSUMER.INFO.{stream}.>",
        f"$JS.API.CONSUMER.DELETE.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]


SERVICE_ACCESS: dict[str, ServiceAccess] = {
    # Uploads and document events, statuses, FAQ, conversations, question and feedback records
    # (units and API keys go through ops over gRPC).
    GATEWAY: ServiceAccess(
        # DOC_STATUS: the shared durable that triggers a unit's test run after its knowledge changed;
        # RATE_LIMITS: the request counters every replica shares.
        streams=(
            DOCS_STREAM,
            QUESTIONS_STREAM,
            FEEDBACK_STREAM,
            QUALITY_STREAM,
            STATUS_STREAM,
            RATE_LIMITS_STREAM,
        ),
        # ingest_queues: read for the queue summaries ingest writes there.
        key_value_buckets=(
            DOC_STATUS_BUCKET,
            FAQ_ENTRIES_BUCKET,
            CONVERSATIONS_BUCKET,
            INGEST_QUEUES_BUCKET,
            *QUALITY_BUCKETS,
        ),
        object_buckets=(ORIGINALS_BUCKET,),
        # Purge rights on ingest's outcome streams: deleting a unit removes its statuses and dead letters.
        publish=(
            "docs.>",
            "questions.>",
            "feedback.>",
            "quality.>",
            "ratelimit.>",
            f"$JS.API.STREAM.PURGE.{DEADLETTER_STREAM}",
        ),
    ),
    # Consumes document events; writes statuses, outcomes and dead letters; answers replays.
    INGEST: ServiceAccess(
        streams=(DOCS_STREAM, STATUS_STREAM, DEADLETTER_STREAM),
        key_value_buckets=(DOC_STATUS_BUCKET, INGEST_QUEUES_BUCKET),
        object_buckets=(ORIGINALS_BUCKET,),
        reads_unit_originals=True,
        # Its own audit records of changes that arrived as events (trolyao.audit), nothing else there.
        publish=("status.docs.>", "deadletter.docs.>", audit_subject("document")),
        subscribe=(f"{REPLAY_SUBJECT_PREFIX}.>",),
        allow_responses=True,
    ),
    # Identity (accounts, keys, audit) and recovery (snapshots read and restore every bucket).
    OPS: ServiceAccess(
        streams=(
            DOCS_STREAM,
            STATUS_STREAM,
            DEADLETTER_STREAM,
            QUESTIONS_STREAM,
            FEEDBACK_STREAM,
            QUALITY_STREAM,
            RATE_LIMITS_STREAM,
        ),
        key_value_buckets=(
            DOC_STATUS_BUCKET,
            FAQ_ENTRIES_BUCKET,
            UNITS_BUCKET,
            API_KEYS_BUCKET,
            CONVERSATIONS_BUCKET,
            INGEST_QUEUES_BUCKET,
            RETRIEVAL_REGISTRY_BUCKET,
            *QUALITY_BUCKETS,
            *OPS_SECURITY_BUCKETS,
        ),
        object_buckets=(ORIGINALS_BUCKET,),
        extra_streams=(OPS_AUDIT_STREAM,),
        manages_unit_originals=True,
        publish=(OPS_AUDIT_SUBJECTS, f"{REPLAY_SUBJECT_PREFIX}.>"),
        may_delete_streams=True,
    ),
    # Its document registry when replicas share it (TROLYAO_RETRIEVAL_REGISTRY=nats); nothing else.
    RETRIEVAL: ServiceAccess(key_value_buckets=(RETRIEVAL_REGISTRY_BUCKET,)),
}

OPERATOR_GRANT = Grant(publish=(">",), subscribe=(">",))


def service_grant(identity: str, *, unit_buckets: Iterable[str] = ()) -> Grant:
    if identity == OPERATOR:
        return OPERATOR_GRANT
    return SERVICE_ACCESS[identity].grant(identity, unit_buckets=unit_buckets)


def unit_user(unit: str, credential_id: str) -> str:
    return f"{UNIT_USER_PREFIX}{unit}-{credential_id}"


def unit_grant(unit: str, user: str) -> Grant:
    """A unit's event credential: publish its own document events and its own originals, read
    nothing (the JetStream publish acknowledgement comes back on its own inbox)."""
    bucket = unit_originals_bucket(unit)
    stream = object_stream(bucket)
    return Grant(
        publish=(
            unit_docs_filter(unit),
            f"$O.{bucket}.>",
            f"$JS.API.STREAM.INFO.{stream}",
            f"$JS.API.STREAM.MSG.GET.{stream}",
            f"$JS.API.DIRECT.GET.{stream}.>",
            f"$JS.API.STREAM.PURGE.{stream}",
        ),
        subscribe=(f"{inbox_prefix(user)}.>",),
    )


def layout_streams(identity: str) -> set[str] | None:
    """The streams an identity creates at start (None: every one, for the operator)."""
    if identity == OPERATOR:
        return None
    return SERVICE_ACCESS[identity].stream_names()
