"""JetStream streams and buckets of the ops security domain (accounts, sessions, keys, audit).

Kept beside trolyao.messaging rather than inside it: only ops reads or writes these. The audit
stream is append-only by configuration (no deletes, no purges, no roll-ups).
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BucketNotFoundError, NotFoundError

from trolyao.audit import AUDIT_STREAM, AUDIT_SUBJECT_PREFIX, audit_subject

ACCOUNTS_BUCKET = "ops_accounts"
SESSIONS_BUCKET = "ops_sessions"
CHALLENGES_BUCKET = "ops_login_challenges"
THROTTLE_BUCKET = "ops_throttle"
SIGNING_KEYS_BUCKET = "ops_signing_keys"
SECURITY_POLICY_BUCKET = "ops_security_policy"
SECURITY_BUCKETS = (
    ACCOUNTS_BUCKET,
    SESSIONS_BUCKET,
    CHALLENGES_BUCKET,
    THROTTLE_BUCKET,
    SIGNING_KEYS_BUCKET,
    SECURITY_POLICY_BUCKET,
)


SECONDS_PER_DAY = 86_400
# Entries outlive their purpose by a margin; the domain checks expiry itself, TTLs only collect.
SESSION_BUCKET_TTL_SECONDS = 31 * SECONDS_PER_DAY
CHALLENGE_BUCKET_TTL_SECONDS = 3_600
THROTTLE_BUCKET_TTL_SECONDS = 2 * SECONDS_PER_DAY
ACCOUNT_HISTORY = 5
AUDIT_RETENTION_DAYS = 5 * 366
AUDIT_MAX_EVENT_BYTES = 64 * 1024


def audit_subject_filter(category: str) -> str:
    """Subjects of one category, or of all when `category` is empty."""
    return audit_subject(category) if category else f"{AUDIT_SUBJECT_PREFIX}.>"


def security_buckets(replicas: int = 1) -> list[KeyValueConfig]:
    return [
        KeyValueConfig(bucket=ACCOUNTS_BUCKET, history=ACCOUNT_HISTORY, replicas=replicas),
        KeyValueConfig(bucket=SESSIONS_BUCKET, history=1, ttl=SESSION_BUCKET_TTL_SECONDS, replicas=replicas),
        KeyValueConfig(
            bucket=CHALLENGES_BUCKET, history=1, ttl=CHALLENGE_BUCKET_TTL_SECONDS, replicas=replicas
        ),
        KeyValueConfig(bucket=THROTTLE_BUCKET, history=1, ttl=THROTTLE_BUCKET_TTL_SECONDS, replicas=replicas),
        KeyValueConfig(bucket=SIGNING_KEYS_BUCKET, history=1, replicas=replicas),
        KeyValueConfig(bucket=SECURITY_POLICY_BUCKET, history=5, replicas=replicas),
    ]


def audit_stream(replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=AUDIT_STREAM,
        subjects=[f"{AUDIT_SUBJECT_PREFIX}.>"],
        retention=RetentionPolicy.LIMITS,
        max_age=AUDIT_RETENTION_DAYS * SECONDS_PER_DAY,
        max_msg_size=AUDIT_MAX_EVENT_BYTES,
        storage=StorageType.FILE,
        num_replicas=replicas,
        deny_delete=True,
        deny_purge=True,
        allow_rollup_hdrs=False,
    )


async def ensure_security_layout(js: JetStreamContext, *, replicas: int = 1) -> None:
    """Create (or update) the audit stream and the security buckets; safe at every start."""
    config = audit_stream(replicas)
    try:
        await js.stream_info(AUDIT_STREAM)
        await js.update_stream(config)
    except NotFoundError:
        await js.add_stream(config)
    for kv_config in security_buckets(replicas):
        try:
            await js.key_value(kv_config.bucket or "")
        except BucketNotFoundError:
            await js.create_key_value(kv_config)
