"""Units' event credentials: issue, list and revoke — the one implementation behind both the API
(gateway → ops' gRPC) and the admin CLI (`trolyao event-credentials`, stack/event_credentials.py).

A credential is a NATS user that may publish only `docs.<unit>.>` and put originals only into the
unit's own object-store bucket (trolyao/natsaccess.py). Issuing records it (its secret's hash only),
rewrites the server's users file and makes the running nats-server reload it, then makes the unit's
originals bucket (ops may manage it once the reloaded grants name it); revoking removes the user the
same way, and the server drops its connections. Both leave one audit record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from services.ops.identity.adapters.nats_users import EventCredential, NatsAuth, UnknownCredential
from services.ops.identity.domain.audit import AuditEvent, Outcome, new_audit_event
from services.ops.identity.domain.errors import NotFound
from services.ops.identity.domain.units import InvalidUnit, Unit
from trolyao.messaging import UNIT_ID_PATTERN

AUDIT_ISSUED = "event_credential.issued"
AUDIT_REVOKED = "event_credential.revoked"


class UnknownUnit(NotFound):
    """No such unit: create it first (PUT /v1/units/{unit})."""


class EventCredentialsUnavailable(RuntimeError):
    """This ops has no users file to rewrite (compose/Kubernetes: the operator's CLI does it)."""


class UnitDirectory(Protocol):
    async def get(self, unit_id: str) -> Unit | None: ...


class OriginalsBuckets(Protocol):
    """Makes a unit's own originals bucket if it is missing."""

    async def ensure(self, unit: str) -> None: ...


class LoginProbe(Protocol):
    """Waits until the server accepts a user (its reload takes effect a moment after the signal)."""

    async def wait_accepted(self, user: str, password: str) -> bool: ...


class AuditAppender(Protocol):
    async def append(self, event: AuditEvent) -> AuditEvent: ...


@dataclass(frozen=True, slots=True)
class Issued:
    """A new credential and its password (shown once, kept nowhere); `reloaded`: the running server
    already knows it (False when the users file must still be deployed by hand)."""

    credential: EventCredential
    password: str
    reloaded: bool


@dataclass
class EventCredentialAdmin:
    """Issue, list and revoke units' event credentials over the users of one nats-server."""

    users: NatsAuth
    config_dir: Path
    units: UnitDirectory
    buckets: OriginalsBuckets
    audit: AuditAppender
    login: LoginProbe
    clock: Callable[[], float] = time.time

    async def issue(self, unit: str, *, actor: str, client_address: str = "") -> Issued:
        if not UNIT_ID_PATTERN.match(unit):
            raise InvalidUnit(f"invalid unit id {unit!r}")
        if await self.units.get(unit) is None:
            raise UnknownUnit(unit)
        credential, password = await asyncio.to_thread(self.users.issue, unit, issued_by=actor)
        reloaded = await asyncio.to_thread(self.users.apply, self.config_dir)
        try:
            if reloaded and not await self.login.wait_accepted(credential.user, password):
                raise TimeoutError("nats-server did not take the new user")
            await self.buckets.ensure(unit)
        except BaseException:
            # No credential without its bucket: take it back before saying so.
            await asyncio.to_thread(self.users.revoke, credential.credential_id)
            await asyncio.to_thread(self.users.apply, self.config_dir)
            raise
        await self._audit(AUDIT_ISSUED, credential, actor=actor, client_address=client_address)
        return Issued(credential, password, reloaded)

    async def list(self, unit: str = "") -> list[EventCredential]:
        """Every credential (of `unit` when given), active and revoked, oldest first; no secrets."""
        credentials = await asyncio.to_thread(self.users.credentials)
        return [credential for credential in credentials if not unit or credential.unit == unit]

    async def revoke(
        self, credential_id: str, *, actor: str, client_address: str = "", unit: str = ""
    ) -> tuple[EventCredential, bool]:
        """Revoke a credential (of `unit` when given: another unit's is unknown); also says whether
        the running server reloaded its users. Revoking a revoked credential changes nothing."""
        known = {credential.credential_id: credential for credential in await self.list(unit)}
        if credential_id not in known:
            raise UnknownCredential(credential_id)
        credential = await asyncio.to_thread(self.users.revoke, credential_id)
        reloaded = await asyncio.to_thread(self.users.apply, self.config_dir)
        if known[credential_id].active:
            await self._audit(AUDIT_REVOKED, credential, actor=actor, client_address=client_address)
        return credential, reloaded

    async def revoke_unit(self, unit: str, *, actor: str) -> int:
        """Revoke every active credential of `unit` (it is being deleted); how many were."""
        active = [credential for credential in await self.list(unit) if credential.active]
        for credential in active:
            await self.revoke(credential.credential_id, actor=actor, unit=unit)
        return len(active)

    async def _audit(
        self, action: str, credential: EventCredential, *, actor: str, client_address: str
    ) -> None:
        await self.audit.append(
            new_audit_event(
                now=self.clock(),
                actor=actor,
                action=action,
                outcome=Outcome.SUCCESS,
                client_address=client_address,
                target=credential.credential_id,
                unit=credential.unit,
                details={"nats_user": credential.user},
            )
        )


__all__ = [
    "AUDIT_ISSUED",
    "AUDIT_REVOKED",
    "EventCredentialAdmin",
    "EventCredentialsUnavailable",
    "Issued",
    "UnknownCredential",
    "UnknownUnit",
]
