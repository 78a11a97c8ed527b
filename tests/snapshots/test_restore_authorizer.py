"""Ops' own check of restore callers: a ministry admin whose OTP is recent, else refused and audited."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from services.ops.identity.domain.accounts import Actor, PermissionDenied, Role
from services.ops.identity.domain.errors import StepUpRequired, Unauthenticated
from services.ops.recovery.entrypoints.snapshot_grpc import StepUpRestoreAuthorizer

pytestmark = pytest.mark.timeout(10)

NOW = 1_800_000_000.0
STEP_UP_SECONDS = 300


@dataclass
class FakeConfig:
    step_up_max_age_seconds: int = STEP_UP_SECONDS


@dataclass
class FakeSecurity:
    actor: Actor
    config: FakeConfig = field(default_factory=FakeConfig)

    async def authenticate(self, access_token: str) -> Actor:
        if access_token != "valid":
            raise Unauthenticated("access token invalid")
        return self.actor


@dataclass
class RecordingAudit:
    events: list[dict[str, Any]] = field(default_factory=list)

    async def record(
        self, action: str, outcome: str, *, actor: str, details: Mapping[str, str] | None = None, **kw: str
    ) -> None:
        self.events.append({"action": action, "outcome": outcome, "actor": actor, **kw})


def authorize(
    role: Role, otp_age: float | None, token: str = "valid", audit: RecordingAudit | None = None
) -> tuple[str, RecordingAudit]:
    actor = Actor(
        username="quantri",
        role=role,
        units=(),
        otp_at=None if otp_age is None else NOW - otp_age,
        session_id="s1",
    )
    audit = audit if audit is not None else RecordingAudit()
    authorizer = StepUpRestoreAuthorizer(FakeSecurity(actor), audit, clock=lambda: NOW)  # type: ignore[arg-type]
    return asyncio.run(authorizer.authorize_restore(token, "10.0.0.1")), audit


def test_ministry_admin_with_recent_otp_may_restore() -> None:
    actor, audit = authorize(Role.MINISTRY_ADMIN, otp_age=60)
    assert actor.endswith("quantri") and not audit.events


def test_stale_otp_needs_step_up_and_is_audited() -> None:
    audit = RecordingAudit()
    with pytest.raises(StepUpRequired):
        authorize(Role.MINISTRY_ADMIN, otp_age=STEP_UP_SECONDS + 1, audit=audit)
    assert audit.events[0]["action"] == "snapshot.restore_denied"
    assert audit.events[0]["reason"] == "step_up_required"
    with pytest.raises(StepUpRequired):
        authorize(Role.MINISTRY_ADMIN, otp_age=None)


def test_unit_admin_is_refused() -> None:
    with pytest.raises(PermissionDenied):
        authorize(Role.UNIT_ADMIN, otp_age=10)


def test_missing_or_bad_token_is_unauthenticated() -> None:
    with pytest.raises(Unauthenticated):
        authorize(Role.MINISTRY_ADMIN, otp_age=10, token="")
    with pytest.raises(Unauthenticated):
        authorize(Role.MINISTRY_ADMIN, otp_age=10, token="forged")
