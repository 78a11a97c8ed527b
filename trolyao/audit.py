"""Where the audit trail lives on JetStream, and the record other services append to it directly.

Ops owns the trail (`services/ops/identity`: queries, exports, its own security events). A service
that sees a change no gateway request made — ingest applying a document event a unit's system
published on NATS — appends its record here itself, in the same JSON shape ops writes, because no
service imports another and ingest has no reason to call ops for anything else.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

AUDIT_STREAM = "OPS_AUDIT"
AUDIT_SUBJECT_PREFIX = "audit"
AUDIT_RECORD_SCHEMA_VERSION = 1
# The `source` the gateway writes on the document events it publishes: those changes were audited
# by the gateway with the caller's credential, so the event is not audited a second time.
GATEWAY_EVENT_SOURCE = "gateway"
# The actor of a change that arrived as an event on NATS (a unit's own system, an operator import).
EVENT_ACTOR_PREFIX = "event:"
MAX_RECORD_FIELD_CHARS = 512


def audit_subject(category: str) -> str:
    return f"{AUDIT_SUBJECT_PREFIX}.{category}"


def audit_record(
    *,
    actor: str,
    action: str,
    unit: str,
    target: str,
    details: Mapping[str, str],
    outcome: str = "success",
    event_id: str = "",
) -> tuple[str, bytes, str]:
    """(subject, payload, message id) of one audit record, in the shape ops' trail decodes."""
    record = {
        "event_id": event_id or str(uuid.uuid4()),
        "occurred_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "actor": actor[:MAX_RECORD_FIELD_CHARS],
        "action": action,
        "outcome": outcome,
        "client_address": "",
        "target": target[:MAX_RECORD_FIELD_CHARS],
        "unit": unit[:MAX_RECORD_FIELD_CHARS],
        "reason": "",
        "details": {key: value[:MAX_RECORD_FIELD_CHARS] for key, value in details.items()},
        "schema_version": AUDIT_RECORD_SCHEMA_VERSION,
    }
    payload = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
    return audit_subject(action.split(".", 1)[0]), payload, str(record["event_id"])


__all__ = [
    "AUDIT_STREAM",
    "AUDIT_SUBJECT_PREFIX",
    "EVENT_ACTOR_PREFIX",
    "GATEWAY_EVENT_SOURCE",
    "audit_record",
    "audit_subject",
]
