"""The audit trail's vocabulary: who did what, when, from where, with which outcome.

Events never carry secrets (passwords, codes, tokens, TOTP secrets): only names, ids and reasons.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

AUDIT_SCHEMA_VERSION = 1
MAX_DETAIL_ENTRIES = 32
MAX_FIELD_CHARS = 512


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class AuditAction(StrEnum):
    """Actions ops records itself. Category = the part before the first dot."""

    LOGIN_PASSWORD = "login.password"
    LOGIN_OTP = "login.otp"
    LOGIN_RECOVERY_CODE = "login.recovery_code"
    LOGIN_LOCKED_OUT = "login.locked_out"
    LOGIN_STEP_UP = "login.step_up"
    OTP_ENROLMENT_STARTED = "otp.enrolment_started"
    OTP_ENROLMENT_CONFIRMED = "otp.enrolment_confirmed"
    TOKEN_REFRESHED = "token.refreshed"
    TOKEN_REUSE_DETECTED = "token.reuse_detected"
    TOKEN_LOGOUT = "token.logout"
    ACCOUNT_CREATED = "account.created"
    ACCOUNT_ROLE_CHANGED = "account.role_changed"
    ACCOUNT_DISABLED = "account.disabled"
    ACCOUNT_ENABLED = "account.enabled"
    ACCOUNT_OTP_RESET = "account.otp_reset"
    ACCOUNT_PASSWORD_CHANGED = "account.password_changed"
    POLICY_CHANGED = "policy.changed"
    SIGNING_KEY_ROTATED = "signing_key.rotated"
    AUDIT_QUERIED = "audit.queried"
    AUDIT_EXPORTED = "audit.exported"
    ACCESS_DENIED = "access.denied"


# Categories only ops writes: other services cannot forge login or account events.
RESERVED_CATEGORIES = frozenset(action.value.split(".", 1)[0] for action in AuditAction)


class InvalidAuditEvent(ValueError):
    """An event from another service that cannot be recorded as is."""


class InvalidAuditQuery(ValueError):
    """A query or event field that cannot be parsed (bad time, unknown outcome)."""


@dataclass(frozen=True, slots=True)
class AuditEvent:
    event_id: str
    occurred_at: str
    actor: str
    action: str
    outcome: Outcome
    client_address: str = ""
    target: str = ""
    unit: str = ""
    reason: str = ""
    details: Mapping[str, str] = field(default_factory=dict)
    schema_version: int = AUDIT_SCHEMA_VERSION
    sequence: int = 0

    @property
    def category(self) -> str:
        return self.action.split(".", 1)[0]


def iso_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_audit_event(
    *,
    now: float,
    actor: str,
    action: str,
    outcome: Outcome,
    client_address: str = "",
    target: str = "",
    unit: str = "",
    reason: str = "",
    details: Mapping[str, str] | None = None,
) -> AuditEvent:
    return AuditEvent(
        event_id=str(uuid.uuid4()),
        occurred_at=iso_time(now),
        actor=actor[:MAX_FIELD_CHARS],
        action=action,
        outcome=outcome,
        client_address=client_address[:MAX_FIELD_CHARS],
        target=target[:MAX_FIELD_CHARS],
        unit=unit[:MAX_FIELD_CHARS],
        reason=reason[:MAX_FIELD_CHARS],
        details=dict(details or {}),
    )


def validate_external_event(event: AuditEvent) -> AuditEvent:
    """Check an event sent by another service; its category must not be one ops reserves."""
    if not event.action or not all(part.isidentifier() for part in event.action.split(".")):
        raise InvalidAuditEvent("action must be dotted words, e.g. 'document.deleted'")
    if event.category in RESERVED_CATEGORIES:
        raise InvalidAuditEvent(f"category '{event.category}' is recorded by ops only")
    if not event.actor:
        raise InvalidAuditEvent("actor is required")
    if len(event.details) > MAX_DETAIL_ENTRIES:
        raise InvalidAuditEvent(f"at most {MAX_DETAIL_ENTRIES} details")
    return event


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events a query wants; `action` matches whole dotted segments ("login" ⊃ "login.otp")."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str = ""
    action: str = ""
    unit: str = ""
    outcome: str = ""

    @property
    def category(self) -> str:
        return self.action.split(".", 1)[0] if self.action else ""

    def matches(self, event: AuditEvent) -> bool:
        if self.actor and event.actor != self.actor:
            return False
        if self.action and not (event.action == self.action or event.action.startswith(self.action + ".")):
            return False
        if self.unit and event.unit != self.unit:
            return False
        if self.outcome and event.outcome != self.outcome:
            return False
        occurred = parse_iso(event.occurred_at)
        if self.since is not None and occurred < self.since:
            return False
        return not (self.until is not None and occurred >= self.until)


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 time; naive times are taken as UTC."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
