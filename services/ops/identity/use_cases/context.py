"""What every identity use case works with, and the plumbing they share.

The use cases are plain async functions over an `IdentityContext`: the repositories, the audit
trail, the secret box, the knobs and the clock. Every security event is written to the audit trail
before the call returns; when the trail cannot be written the call fails. Logs carry names, ids and
outcomes only: never passwords, codes, secrets or tokens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from services.ops.identity.adapters.audit_stream import AuditTrail
from services.ops.identity.adapters.kv_repositories import ConcurrentUpdate, UnitRepository
from services.ops.identity.adapters.security_repositories import (
    AccountRepository,
    ChallengeRepository,
    SecurityPolicyRepository,
    SessionRepository,
    SigningKeyRepository,
    ThrottleRepository,
)
from services.ops.identity.domain.accounts import PasswordHashing
from services.ops.identity.domain.audit import AuditAction, Outcome, new_audit_event
from services.ops.identity.domain.clock import Clock
from services.ops.identity.domain.secret_box import SecretBox
from services.ops.identity.domain.throttling import ThrottlePolicy
from services.ops.identity.domain.tokens import SigningKey, TokenSettings
from trolyao.logs import get_logger

log = get_logger("ops")

CAS_ATTEMPTS = 8
MAX_CONCURRENT_PASSWORD_HASHES = 2
MAX_ADDRESS_CHARS = 128
UNKNOWN_ADDRESS = "unknown"

Result = TypeVar("Result")


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    """Knobs of the security domain (built from OpsSettings by bootstrap)."""

    tokens: TokenSettings
    throttle: ThrottlePolicy
    otp_issuer: str
    challenge_ttl_seconds: int
    challenge_max_attempts: int
    step_up_max_age_seconds: int
    signing_key_rotation_seconds: int


@dataclass(slots=True)
class SigningKeyCache:
    """The signing keys last read from their bucket, and when (reloaded now and then)."""

    keys: list[SigningKey] = field(default_factory=list)
    loaded_at: float = float("-inf")
    forced_at: float = float("-inf")


def client_address_of(client_address: str) -> str:
    """The caller's address as recorded: trimmed, bounded, never empty."""
    return client_address.strip()[:MAX_ADDRESS_CHARS] or UNKNOWN_ADDRESS


async def with_retries(attempt: Callable[[], Awaitable[Result]]) -> Result:
    """Run a read-modify-write until its revision check passes (bounded)."""
    for _ in range(CAS_ATTEMPTS - 1):
        try:
            return await attempt()
        except ConcurrentUpdate:
            continue
    return await attempt()


class IdentityContext:
    """The repositories and knobs of the identity context. Wired once by `bootstrap`."""

    def __init__(
        self,
        *,
        accounts: AccountRepository,
        sessions: SessionRepository,
        challenges: ChallengeRepository,
        throttle: ThrottleRepository,
        signing_keys: SigningKeyRepository,
        policy: SecurityPolicyRepository,
        audit: AuditTrail,
        units: UnitRepository,
        passwords: PasswordHashing,
        box: SecretBox,
        config: SecurityConfig,
        clock: Clock,
    ) -> None:
        self.accounts = accounts
        self.sessions = sessions
        self.challenges = challenges
        self.throttle = throttle
        self.signing_keys = signing_keys
        self.policy = policy
        self.audit_trail = audit
        self.units = units
        self.passwords = passwords
        self.box = box
        self.config = config
        self.clock = clock
        self.key_cache = SigningKeyCache()
        self._hashing = asyncio.Semaphore(MAX_CONCURRENT_PASSWORD_HASHES)

    async def audit(
        self,
        action: AuditAction,
        outcome: Outcome,
        *,
        actor: str,
        client_address: str = "",
        target: str = "",
        unit: str = "",
        reason: str = "",
        details: Mapping[str, str] | None = None,
    ) -> None:
        """Append a security event to the audit trail (and log it without secrets)."""
        event = new_audit_event(
            now=self.clock(),
            actor=actor,
            action=action.value,
            outcome=outcome,
            client_address=client_address,
            target=target,
            unit=unit,
            reason=reason,
            details=details,
        )
        await self.audit_trail.append(event)
        # Failed attempts name whatever was typed as a username (sometimes a password typed in the
        # wrong field): that stays in the access-controlled audit trail, out of the logs.
        named = {"actor": actor} if outcome is Outcome.SUCCESS else {}
        log.info("security_event", action=action.value, outcome=outcome.value, reason=reason, **named)

    async def verify_password(self, password_hash: str | None, password: str) -> bool:
        async with self._hashing:
            return await asyncio.to_thread(self.passwords.verify, password_hash, password)

    async def hash_password(self, password: str) -> str:
        async with self._hashing:
            return await asyncio.to_thread(self.passwords.hash, password)
