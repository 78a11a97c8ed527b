"""Security handlers of the ops service: login with OTP, tokens, accounts and roles, the audit trail.

Plain async methods over repositories and domain functions (no transport types here); the gRPC
edge converts messages and maps the errors below to statuses in its one table. Every security
event is written to the audit trail before the call returns; when the trail cannot be written the
call fails. Logs carry names, ids and outcomes only: never passwords, codes, secrets or tokens.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import NoReturn, TypeVar

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.ops.identity.adapters.audit_stream import AuditTrail
from services.ops.identity.adapters.kv_repositories import ConcurrentUpdate, UnitRepository
from services.ops.identity.adapters.security_repositories import (
    AccountRepository,
    AlreadyExists,
    ChallengeRepository,
    SecurityPolicyRepository,
    SessionRepository,
    SigningKeyRepository,
    ThrottleRepository,
)
from services.ops.identity.domain.accounts import (
    USERNAME_PATTERN,
    Account,
    Actor,
    InvalidAccountRequest,
    PasswordHashing,
    PermissionDenied,
    Role,
    SecurityPolicy,
    ensure_may_manage,
    may_grant,
    may_view,
    new_initial_password,
    normalise_username,
    subject_of,
    validate_display_name,
    validate_new_password,
    validate_role_binding,
    validate_username,
)
from services.ops.identity.domain.audit import (
    AuditAction,
    AuditEvent,
    AuditFilter,
    Outcome,
    iso_time,
    new_audit_event,
    validate_external_event,
)
from services.ops.identity.domain.clock import Clock
from services.ops.identity.domain.login import (
    ChallengeFailed,
    ChallengePurpose,
    LoginChallenge,
    new_challenge,
    valid_challenge_id,
)
from services.ops.identity.domain.secret_box import SecretBox
from services.ops.identity.domain.throttling import (
    FailureCounter,
    LockedOut,
    ThrottlePolicy,
    ThrottleScope,
    throttle_key,
)
from services.ops.identity.domain.tokens import (
    AMR_OTP,
    AMR_PASSWORD,
    AMR_RECOVERY_CODE,
    InvalidToken,
    RefreshOutcome,
    Session,
    SigningKey,
    TokenSettings,
    issue_access_token,
    new_session,
    new_signing_key,
    otp_is_fresh,
    parse_refresh_token,
    rotate_session,
    verify_access_token,
)
from services.ops.identity.domain.totp import (
    TotpCheck,
    check_totp,
    match_recovery_code,
    new_recovery_codes,
    new_totp_secret,
    provisioning_uri,
    qr_png,
    qr_svg,
)
from services.ops.service import NotFound, Unauthenticated
from trolyao.logs import get_logger

log = get_logger("ops")

CAS_ATTEMPTS = 8
MAX_CONCURRENT_PASSWORD_HASHES = 2
KEY_RELOAD_SECONDS = 60.0
UNKNOWN_KID_RELOAD_SECONDS = 5.0
DEFAULT_AUDIT_PAGE = 100
MAX_AUDIT_PAGE = 1000
MAX_AUDIT_SCANNED_PER_PAGE = 20_000
MAX_ADDRESS_CHARS = 128
UNKNOWN_ADDRESS = "unknown"

NEXT_OTP = "otp"
NEXT_ENROL = "enrol"
NEXT_DONE = "done"

Result = TypeVar("Result")


class LoginFailed(PermissionError):
    """Username, password or code wrong (deliberately one error, whatever the cause)."""


class StepUpRequired(PermissionError):
    """The operation needs a second factor proven within the last few minutes."""


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


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    access_expires_at: int
    refresh_token: str = ""
    refresh_expires_at: int = 0


@dataclass(frozen=True, slots=True)
class LoginResult:
    next: str
    challenge: LoginChallenge | None = None
    tokens: IssuedTokens | None = None
    recovery_codes_left: int = 0


@dataclass(frozen=True, slots=True)
class EnrolmentStart:
    otpauth_uri: str
    secret: str
    qr_svg: str
    qr_png: bytes


@dataclass(frozen=True, slots=True)
class EnrolmentResult:
    recovery_codes: list[str]
    tokens: IssuedTokens | None


@dataclass(frozen=True, slots=True)
class SessionState:
    active: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: list[AuditEvent]
    next_after_sequence: int
    more: bool


def _totp_context(username: str) -> str:
    return f"totp:{username}"


def _pending_totp_context(username: str) -> str:
    return f"totp-pending:{username}"


def _address(client_address: str) -> str:
    return client_address.strip()[:MAX_ADDRESS_CHARS] or UNKNOWN_ADDRESS


async def _with_retries(attempt: Callable[[], Awaitable[Result]]) -> Result:
    """Run a read-modify-write until its revision check passes (bounded)."""
    for _ in range(CAS_ATTEMPTS - 1):
        try:
            return await attempt()
        except ConcurrentUpdate:
            continue
    return await attempt()


class SecurityHandlers:
    """Use cases of the security domain. Wired once by `bootstrap` (and by the admin CLI)."""

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
        self._accounts = accounts
        self._sessions = sessions
        self._challenges = challenges
        self._throttle = throttle
        self._signing_keys = signing_keys
        self._policy = policy
        self._audit_trail = audit
        self._units = units
        self._passwords = passwords
        self._box = box
        self._config = config
        self._clock = clock
        self._hashing = asyncio.Semaphore(MAX_CONCURRENT_PASSWORD_HASHES)
        self._keys: list[SigningKey] = []
        self._keys_loaded_at = float("-inf")
        self._keys_forced_at = float("-inf")

    @property
    def config(self) -> SecurityConfig:
        return self._config

    # ------------------------------------------------------------------ plumbing

    async def _audit(
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
        event = new_audit_event(
            now=self._clock(),
            actor=actor,
            action=action.value,
            outcome=outcome,
            client_address=client_address,
            target=target,
            unit=unit,
            reason=reason,
            details=details,
        )
        await self._audit_trail.append(event)
        # Failed attempts name whatever was typed as a username (sometimes a password typed in the
        # wrong field): that stays in the access-controlled audit trail, out of the logs.
        named = {"actor": actor} if outcome is Outcome.SUCCESS else {}
        log.info("security_event", action=action.value, outcome=outcome.value, reason=reason, **named)

    async def _verify_password(self, password_hash: str | None, password: str) -> bool:
        async with self._hashing:
            return await asyncio.to_thread(self._passwords.verify, password_hash, password)

    async def _hash_password(self, password: str) -> str:
        async with self._hashing:
            return await asyncio.to_thread(self._passwords.hash, password)

    async def _ensure_not_locked(self, username: str, client_address: str) -> None:
        now = self._clock()
        for scope, identifier in ((ThrottleScope.ACCOUNT, username), (ThrottleScope.ADDRESS, client_address)):
            counter, _ = await self._throttle.get_for_update(throttle_key(scope, identifier))
            remaining = counter.locked_for(now)
            if remaining:
                await self._audit(
                    AuditAction.LOGIN_LOCKED_OUT,
                    Outcome.DENIED,
                    actor=subject_of(username),
                    client_address=client_address,
                    reason=f"{scope.value}_locked",
                    details={"retry_after_seconds": str(remaining)},
                )
                raise LockedOut(remaining)

    async def _count_failure(self, scope: ThrottleScope, identifier: str) -> FailureCounter:
        key = throttle_key(scope, identifier)
        threshold = self._config.throttle.threshold(scope)

        async def attempt() -> FailureCounter:
            counter, revision = await self._throttle.get_for_update(key)
            updated = counter.after_failure(
                now=self._clock(), threshold=threshold, policy=self._config.throttle
            )
            if updated != counter:
                await self._throttle.put(key, updated, revision=revision)
            return updated

        return await _with_retries(attempt)

    async def _fail_login(
        self, action: AuditAction, *, username: str, client_address: str, reason: str
    ) -> LoginFailed:
        """Count the failure on both counters, audit it (and any lockout); returns the error to raise."""
        await self._audit(
            action, Outcome.FAILURE, actor=subject_of(username), client_address=client_address, reason=reason
        )
        now = self._clock()
        for scope, identifier in ((ThrottleScope.ACCOUNT, username), (ThrottleScope.ADDRESS, client_address)):
            counter = await self._count_failure(scope, identifier)
            if counter.locked_for(now):
                await self._audit(
                    AuditAction.LOGIN_LOCKED_OUT,
                    Outcome.DENIED,
                    actor=subject_of(username),
                    client_address=client_address,
                    reason=f"{scope.value}_threshold_reached",
                    details={"lockout_seconds": str(self._config.throttle.lockout_seconds)},
                )
        log.warning("login_failed", action=action.value, reason=reason)
        return LoginFailed("username, password or code is wrong")

    # ------------------------------------------------------------------ signing keys

    async def ensure_signing_key(self) -> SigningKey:
        """The active signing key, made (or rotated) when missing or older than the rotation period."""
        active = await self._active_key()
        if active is None or self._clock() - active.created_at >= self._config.signing_key_rotation_seconds:
            await self._rotate_keys()
            active = await self._active_key(force=True)
        if active is None:  # pragma: no cover - a rotation always leaves an active key
            raise RuntimeError("no active signing key")
        return active

    async def _load_keys(self, *, force: bool = False) -> list[SigningKey]:
        now = self._clock()
        if force or now - self._keys_loaded_at >= KEY_RELOAD_SECONDS:
            self._keys = [key for key, _ in await self._signing_keys.list()]
            self._keys_loaded_at = now
        return self._keys

    async def _active_key(self, *, force: bool = False) -> SigningKey | None:
        return next((key for key in await self._load_keys(force=force) if not key.retired_at), None)

    def _published(self, keys: list[SigningKey]) -> list[SigningKey]:
        """Keys that may still have live tokens: the active ones, and those retired within a token life."""
        horizon = self._config.tokens.access_ttl_seconds + self._config.tokens.leeway_seconds
        now = self._clock()
        return [key for key in keys if not key.retired_at or now - key.retired_at <= horizon]

    async def _rotate_keys(self) -> SigningKey:
        now = self._clock()
        fresh = new_signing_key(now)
        await self._signing_keys.create(fresh)
        for key, revision in await self._signing_keys.list():
            # Only keys older than the fresh one retire: two replicas rotating at once must not
            # retire each other's keys (the newest stays active everywhere).
            if (key.created_at, key.kid) >= (fresh.created_at, fresh.kid):
                continue
            if not key.retired_at:
                try:
                    await self._signing_keys.update(replace(key, retired_at=now), revision=revision)
                except ConcurrentUpdate:
                    continue
            elif not self._published([key]):
                await self._signing_keys.delete(key.kid)
        await self._load_keys(force=True)
        log.info("signing_key_rotated", kid=fresh.kid)
        return fresh

    async def public_keys(self) -> tuple[list[SigningKey], str]:
        """Published keys (newest first) and the active kid."""
        active = await self.ensure_signing_key()
        return self._published(await self._load_keys()), active.kid

    async def _verification_keys(self, kid: str) -> dict[str, Ed25519PublicKey]:
        keys = await self._load_keys()
        if (
            all(key.kid != kid for key in keys)
            and self._clock() - self._keys_forced_at >= UNKNOWN_KID_RELOAD_SECONDS
        ):
            self._keys_forced_at = self._clock()
            keys = await self._load_keys(force=True)
        return {key.kid: key.public_key for key in self._published(keys)}

    async def rotate_signing_key(
        self, *, access_token: str, client_address: str
    ) -> tuple[list[SigningKey], str]:
        """Make a new key active now (ministry admin, step-up)."""
        actor = await self._authorised_admin(access_token, client_address, step_up=True)
        fresh = await self._rotate_keys()
        await self._audit(
            AuditAction.SIGNING_KEY_ROTATED,
            Outcome.SUCCESS,
            actor=actor.subject,
            client_address=client_address,
            target=fresh.kid,
        )
        return self._published(await self._load_keys()), fresh.kid

    # ------------------------------------------------------------------ tokens and sessions

    async def _issue_access(self, account: Account, session: Session) -> tuple[str, int]:
        key = await self.ensure_signing_key()
        return issue_access_token(
            key=key, account=account, session=session, now=self._clock(), settings=self._config.tokens
        )

    async def _complete_login(
        self,
        account: Account,
        *,
        amr: tuple[str, ...],
        action: AuditAction,
        client_address: str,
        recovery_codes_left: int = 0,
    ) -> LoginResult:
        now = self._clock()
        await self._throttle.clear(throttle_key(ThrottleScope.ACCOUNT, account.username))
        second_factor = AMR_OTP in amr or AMR_RECOVERY_CODE in amr
        session, refresh_token = new_session(
            username=account.username,
            account_epoch=account.epoch,
            otp_at=now if second_factor else None,
            amr=amr,
            now=now,
            ttl=self._config.tokens.refresh_ttl_seconds,
        )
        await self._sessions.create(session)
        access_token, access_expires_at = await self._issue_access(account, session)
        await self._audit(
            action,
            Outcome.SUCCESS,
            actor=account.subject,
            client_address=client_address,
            details={"session_id": session.session_id, "amr": " ".join(amr)},
        )
        log.info("login_succeeded", username=account.username, amr=" ".join(amr))
        return LoginResult(
            next=NEXT_DONE,
            tokens=IssuedTokens(
                access_token=access_token,
                access_expires_at=access_expires_at,
                refresh_token=refresh_token,
                refresh_expires_at=int(session.expires_at),
            ),
            recovery_codes_left=recovery_codes_left,
        )

    async def check_session(self, session_id: str, subject: str) -> SessionState:
        """Is the session behind an access token still valid (not revoked, account unchanged)?"""
        session = await self._sessions.get(session_id) if session_id else None
        if session is None or subject_of(session.username) != subject:
            return SessionState(active=False, reason="unknown")
        if session.revoked_at:
            return SessionState(active=False, reason="revoked")
        if not session.is_active(self._clock()):
            return SessionState(active=False, reason="expired")
        account = await self._accounts.get(session.username)
        if account is None or account.disabled or account.epoch != session.account_epoch:
            return SessionState(active=False, reason="account_changed")
        return SessionState(active=True)

    async def authenticate(self, access_token: str) -> Actor:
        """Verify an access token (signature, lifetime) and its session; Unauthenticated otherwise."""
        try:
            kid = _unverified_kid(access_token)
            claims = verify_access_token(
                access_token,
                keys=await self._verification_keys(kid),
                issuer=self._config.tokens.issuer,
                audience=self._config.tokens.audience,
                now=self._clock(),
                leeway=self._config.tokens.leeway_seconds,
            )
            role = Role(claims.role)
        except (InvalidToken, ValueError) as error:
            raise Unauthenticated("access token invalid") from error
        state = await self.check_session(claims.session_id, claims.subject)
        if not state.active:
            raise Unauthenticated(f"session {state.reason}")
        return Actor(
            username=claims.username,
            role=role,
            units=claims.units,
            otp_at=claims.otp_at,
            session_id=claims.session_id,
        )

    def _require_step_up(self, actor: Actor) -> None:
        if not otp_is_fresh(
            actor.otp_at, now=self._clock(), max_age_seconds=self._config.step_up_max_age_seconds
        ):
            raise StepUpRequired(
                f"confirm with a one-time code (needed within {self._config.step_up_max_age_seconds} s)"
            )

    async def _authorised_admin(self, access_token: str, client_address: str, *, step_up: bool) -> Actor:
        actor = await self.authenticate(access_token)
        if actor.role is not Role.MINISTRY_ADMIN:
            await self._deny(actor, client_address, "ministry_admin_required")
        if step_up:
            self._require_step_up(actor)
        return actor

    async def authorise_dangerous(
        self, *, access_token: str, client_address: str, unit: str | None, action: str
    ) -> Actor:
        """For other ops use cases (restore, snapshot deletion): a ministry admin, or for `unit` that
        unit's admin, whose OTP is recent. Raises Unauthenticated, PermissionDenied (audited) or
        StepUpRequired; returns the actor to record in the use case's own audit event."""
        client_address = _address(client_address)
        actor = await self.authenticate(access_token)
        unit_admin_of_unit = actor.role is Role.UNIT_ADMIN and unit is not None and unit in actor.units
        if actor.role is not Role.MINISTRY_ADMIN and not unit_admin_of_unit:
            await self._deny(actor, client_address, f"{action}: admin_required", target=unit or "")
        self._require_step_up(actor)
        return actor

    async def _deny(self, actor: Actor, client_address: str, reason: str, *, target: str = "") -> NoReturn:
        """Audit a refused action and raise PermissionDenied."""
        await self._audit(
            AuditAction.ACCESS_DENIED,
            Outcome.DENIED,
            actor=actor.subject,
            client_address=client_address,
            target=target,
            reason=reason,
        )
        raise PermissionDenied(reason)

    async def refresh(self, *, refresh_token: str, client_address: str) -> IssuedTokens:
        """Rotate a refresh token. Reuse of a rotated token revokes the family."""
        client_address = _address(client_address)
        parsed = parse_refresh_token(refresh_token)
        if parsed is None:
            raise Unauthenticated("refresh token malformed")
        session_id, secret = parsed

        async def attempt() -> tuple[Session, str, Account]:
            found = await self._sessions.get_for_update(session_id)
            if found is None:
                raise Unauthenticated("refresh token unknown")
            session, revision = found
            rotated, new_token, outcome = rotate_session(session, secret, now=self._clock())
            if outcome is RefreshOutcome.REUSED:
                if rotated != session:
                    await self._sessions.update(rotated, revision=revision)
                await self._audit(
                    AuditAction.TOKEN_REUSE_DETECTED,
                    Outcome.DENIED,
                    actor=subject_of(session.username),
                    client_address=client_address,
                    reason="rotated_refresh_token_presented",
                    details={"session_id": session.session_id},
                )
                raise Unauthenticated("refresh token reused; session revoked")
            if outcome is not RefreshOutcome.ROTATED or new_token is None:
                await self._audit(
                    AuditAction.TOKEN_REFRESHED,
                    Outcome.FAILURE,
                    actor=subject_of(session.username),
                    client_address=client_address,
                    reason=outcome.value,
                )
                raise Unauthenticated(f"refresh token {outcome.value}")
            account = await self._accounts.get(session.username)
            if account is None or account.disabled or account.epoch != session.account_epoch:
                await self._sessions.update(
                    session.revoked(now=self._clock(), reason="account_changed"), revision=revision
                )
                raise Unauthenticated("account changed; log in again")
            await self._sessions.update(rotated, revision=revision)
            return rotated, new_token, account

        session, new_refresh, account = await _with_retries(attempt)
        access_token, access_expires_at = await self._issue_access(account, session)
        await self._audit(
            AuditAction.TOKEN_REFRESHED,
            Outcome.SUCCESS,
            actor=account.subject,
            client_address=client_address,
            details={"session_id": session.session_id},
        )
        return IssuedTokens(
            access_token=access_token,
            access_expires_at=access_expires_at,
            refresh_token=new_refresh,
            refresh_expires_at=int(session.expires_at),
        )

    async def _revoke_session(self, session_id: str, reason: str) -> Session | None:
        async def attempt() -> Session | None:
            found = await self._sessions.get_for_update(session_id)
            if found is None:
                return None
            session, revision = found
            revoked = session.revoked(now=self._clock(), reason=reason)
            if revoked != session:
                await self._sessions.update(revoked, revision=revision)
            return revoked

        return await _with_retries(attempt)

    async def logout(self, *, access_token: str, refresh_token: str, client_address: str) -> None:
        """End the session named by a valid access token, or by its current refresh token."""
        client_address = _address(client_address)
        session_id = ""
        if access_token:
            session_id = (await self.authenticate(access_token)).session_id
        elif refresh_token:
            parsed = parse_refresh_token(refresh_token)
            session = await self._sessions.get(parsed[0]) if parsed else None
            if parsed is None or session is None:
                raise Unauthenticated("refresh token unknown")
            _, _, outcome = rotate_session(session, parsed[1], now=self._clock())
            if outcome is not RefreshOutcome.ROTATED:
                raise Unauthenticated("refresh token not current")
            session_id = session.session_id
        else:
            raise Unauthenticated("nothing to log out")
        session = await self._revoke_session(session_id, "logout")
        if session is not None:
            await self._audit(
                AuditAction.TOKEN_LOGOUT,
                Outcome.SUCCESS,
                actor=subject_of(session.username),
                client_address=client_address,
                details={"session_id": session_id},
            )

    # ------------------------------------------------------------------ login

    async def start_login(self, *, username: str, password: str, client_address: str) -> LoginResult:
        """Check the password (same work and same answer whether or not the account exists)."""
        client_address = _address(client_address)
        name = normalise_username(username)
        await self._ensure_not_locked(name, client_address)
        account = await self._accounts.get(name) if USERNAME_PATTERN.match(name) else None
        matches = await self._verify_password(account.password_hash if account else None, password)
        if account is None or not matches or account.disabled:
            reason = "unknown_account" if account is None else ("disabled" if matches else "wrong_password")
            raise await self._fail_login(
                AuditAction.LOGIN_PASSWORD, username=name, client_address=client_address, reason=reason
            )
        if self._passwords.needs_rehash(account.password_hash):
            await self._rehash(account, password)
        policy = await self._policy.get()
        if not account.requires_otp(policy):
            return await self._complete_login(
                account, amr=(AMR_PASSWORD,), action=AuditAction.LOGIN_PASSWORD, client_address=client_address
            )
        purpose = ChallengePurpose.OTP if account.otp_enrolled else ChallengePurpose.ENROL
        challenge = new_challenge(
            username=account.username,
            purpose=purpose,
            account_epoch=account.epoch,
            now=self._clock(),
            ttl=self._config.challenge_ttl_seconds,
        )
        await self._challenges.create(challenge)
        await self._audit(
            AuditAction.LOGIN_PASSWORD,
            Outcome.SUCCESS,
            actor=account.subject,
            client_address=client_address,
            details={"next": purpose.value},
        )
        return LoginResult(
            next=NEXT_OTP if purpose is ChallengePurpose.OTP else NEXT_ENROL, challenge=challenge
        )

    async def _rehash(self, account: Account, password: str) -> None:
        """Upgrade a hash made with older cost parameters (best effort: a concurrent change wins)."""
        new_hash = await self._hash_password(password)
        found = await self._accounts.get_for_update(account.username)
        if found is None or found[0].password_hash != account.password_hash:
            return
        try:
            await self._accounts.update(replace(found[0], password_hash=new_hash), revision=found[1])
        except ConcurrentUpdate:
            return

    async def _load_challenge(
        self, challenge_id: str, purpose: ChallengePurpose
    ) -> tuple[LoginChallenge, int, Account]:
        found = (
            await self._challenges.get_for_update(challenge_id) if valid_challenge_id(challenge_id) else None
        )
        if found is None:
            raise ChallengeFailed("login challenge unknown or expired")
        challenge, revision = found
        if challenge.purpose is not purpose or not challenge.usable(
            now=self._clock(), max_attempts=self._config.challenge_max_attempts
        ):
            raise ChallengeFailed("login challenge unknown or expired")
        account = await self._accounts.get(challenge.username)
        if account is None or account.disabled or account.epoch != challenge.account_epoch:
            raise ChallengeFailed("login challenge unknown or expired")
        return challenge, revision, account

    async def _spend_attempt(self, challenge: LoginChallenge, revision: int) -> None:
        try:
            await self._challenges.update(challenge.with_failed_attempt(), revision=revision)
        except ConcurrentUpdate:
            return

    async def _consume_challenge(self, challenge: LoginChallenge, revision: int) -> None:
        """Delete the challenge at exactly the revision read: it completes one login only."""
        try:
            await self._challenges.update(
                replace(challenge, attempts=self._config.challenge_max_attempts), revision=revision
            )
        except ConcurrentUpdate as error:
            raise ChallengeFailed("login challenge already used") from error
        await self._challenges.delete(challenge.challenge_id)

    async def _use_totp(self, username: str, code: str) -> TotpCheck:
        """Check a code against the enrolled secret and, when accepted, record its step (no replay)."""

        async def attempt() -> TotpCheck:
            found = await self._accounts.get_for_update(username)
            if found is None or not found[0].otp_enrolled:
                return TotpCheck(accepted=False)
            account, revision = found
            secret = self._box.open(account.otp_secret_sealed, context=_totp_context(username)).decode()
            check = check_totp(secret, code, now=self._clock(), last_used_step=account.otp_last_step)
            if check.accepted:
                await self._accounts.update(replace(account, otp_last_step=check.step), revision=revision)
            return check

        return await _with_retries(attempt)

    async def verify_login_otp(self, *, challenge_id: str, code: str, client_address: str) -> LoginResult:
        """Second step with a TOTP code."""
        client_address = _address(client_address)
        challenge, revision, account = await self._load_challenge(challenge_id, ChallengePurpose.OTP)
        await self._ensure_not_locked(account.username, client_address)
        check = await self._use_totp(account.username, code)
        if not check.accepted:
            await self._spend_attempt(challenge, revision)
            raise await self._fail_login(
                AuditAction.LOGIN_OTP,
                username=account.username,
                client_address=client_address,
                reason="replayed_code" if check.replayed else "wrong_code",
            )
        await self._consume_challenge(challenge, revision)
        return await self._complete_login(
            account, amr=(AMR_PASSWORD, AMR_OTP), action=AuditAction.LOGIN_OTP, client_address=client_address
        )

    async def verify_recovery_code(
        self, *, challenge_id: str, recovery_code: str, client_address: str
    ) -> LoginResult:
        """Second step with a single-use recovery code (it is struck off when accepted)."""
        client_address = _address(client_address)
        challenge, revision, account = await self._load_challenge(challenge_id, ChallengePurpose.OTP)
        await self._ensure_not_locked(account.username, client_address)

        async def attempt() -> int | None:
            found = await self._accounts.get_for_update(account.username)
            if found is None:
                return None
            current, account_revision = found
            index = match_recovery_code(recovery_code, current.recovery_code_hashes)
            if index is None:
                return None
            left = current.recovery_code_hashes[:index] + current.recovery_code_hashes[index + 1 :]
            await self._accounts.update(
                replace(current, recovery_code_hashes=left), revision=account_revision
            )
            return len(left)

        left = await _with_retries(attempt)
        if left is None:
            await self._spend_attempt(challenge, revision)
            raise await self._fail_login(
                AuditAction.LOGIN_RECOVERY_CODE,
                username=account.username,
                client_address=client_address,
                reason="wrong_or_used_recovery_code",
            )
        await self._consume_challenge(challenge, revision)
        return await self._complete_login(
            account,
            amr=(AMR_PASSWORD, AMR_RECOVERY_CODE),
            action=AuditAction.LOGIN_RECOVERY_CODE,
            client_address=client_address,
            recovery_codes_left=left,
        )

    # ------------------------------------------------------------------ enrolment

    async def _enrolling_account(
        self, challenge_id: str, access_token: str
    ) -> tuple[Account, tuple[LoginChallenge, int] | None]:
        if challenge_id:
            challenge, revision, account = await self._load_challenge(challenge_id, ChallengePurpose.ENROL)
            return account, (challenge, revision)
        actor = await self.authenticate(access_token)
        found = await self._accounts.get(actor.username)
        if found is None:
            raise Unauthenticated("account unknown")
        if found.otp_enrolled:
            raise PermissionDenied("an authenticator is enrolled already; an admin can reset it")
        return found, None

    async def start_enrolment(
        self, *, challenge_id: str, access_token: str, client_address: str
    ) -> EnrolmentStart:
        """A fresh pending secret (replacing any earlier pending one), as URI and QR codes."""
        client_address = _address(client_address)
        account, _ = await self._enrolling_account(challenge_id, access_token)
        secret = await self._set_pending_secret(account.username)
        await self._audit(
            AuditAction.OTP_ENROLMENT_STARTED,
            Outcome.SUCCESS,
            actor=account.subject,
            client_address=client_address,
        )
        return self._enrolment_view(account.username, secret)

    def _enrolment_view(self, username: str, secret: str) -> EnrolmentStart:
        uri = provisioning_uri(secret, username=username, issuer=self._config.otp_issuer)
        return EnrolmentStart(otpauth_uri=uri, secret=secret, qr_svg=qr_svg(uri), qr_png=qr_png(uri))

    async def _set_pending_secret(self, username: str) -> str:
        secret = new_totp_secret()
        sealed = self._box.seal(secret.encode(), context=_pending_totp_context(username))

        async def attempt() -> None:
            found = await self._accounts.get_for_update(username)
            if found is None:
                raise Unauthenticated("account unknown")
            await self._accounts.update(replace(found[0], otp_pending_sealed=sealed), revision=found[1])

        await _with_retries(attempt)
        return secret

    async def confirm_enrolment(
        self, *, challenge_id: str, access_token: str, code: str, client_address: str
    ) -> EnrolmentResult:
        """Confirm the pending secret with a first code; returns recovery codes (and tokens at login)."""
        client_address = _address(client_address)
        account, challenge = await self._enrolling_account(challenge_id, access_token)
        await self._ensure_not_locked(account.username, client_address)

        async def attempt() -> tuple[Account, list[str]] | None:
            found = await self._accounts.get_for_update(account.username)
            if found is None or not found[0].otp_pending_sealed:
                return None
            current, revision = found
            secret = self._box.open(
                current.otp_pending_sealed, context=_pending_totp_context(current.username)
            )
            check = check_totp(secret.decode(), code, now=self._clock(), last_used_step=current.otp_last_step)
            if not check.accepted:
                return None
            codes, hashes = new_recovery_codes()
            enrolled = replace(
                current,
                otp_secret_sealed=self._box.seal(secret, context=_totp_context(current.username)),
                otp_pending_sealed="",
                otp_enrolled_at=iso_time(self._clock()),
                otp_last_step=check.step,
                recovery_code_hashes=hashes,
            )
            await self._accounts.update(enrolled, revision=revision)
            return enrolled, codes

        outcome = await _with_retries(attempt)
        if outcome is None:
            if challenge is not None:
                await self._spend_attempt(*challenge)
            raise await self._fail_login(
                AuditAction.OTP_ENROLMENT_CONFIRMED,
                username=account.username,
                client_address=client_address,
                reason="wrong_code_or_no_pending_enrolment",
            )
        enrolled, codes = outcome
        await self._audit(
            AuditAction.OTP_ENROLMENT_CONFIRMED,
            Outcome.SUCCESS,
            actor=enrolled.subject,
            client_address=client_address,
        )
        tokens: IssuedTokens | None = None
        if challenge is not None:
            await self._consume_challenge(*challenge)
            login = await self._complete_login(
                enrolled,
                amr=(AMR_PASSWORD, AMR_OTP),
                action=AuditAction.LOGIN_OTP,
                client_address=client_address,
            )
            tokens = login.tokens
        return EnrolmentResult(recovery_codes=codes, tokens=tokens)

    async def step_up(self, *, access_token: str, code: str, client_address: str) -> IssuedTokens:
        """Prove the second factor again; the new access token's otp_at is now."""
        client_address = _address(client_address)
        actor = await self.authenticate(access_token)
        await self._ensure_not_locked(actor.username, client_address)
        check = await self._use_totp(actor.username, code)
        if not check.accepted:
            raise await self._fail_login(
                AuditAction.LOGIN_STEP_UP,
                username=actor.username,
                client_address=client_address,
                reason="replayed_code" if check.replayed else "wrong_code",
            )
        now = self._clock()

        async def attempt() -> Session:
            found = await self._sessions.get_for_update(actor.session_id)
            if found is None:
                raise Unauthenticated("session unknown")
            session, revision = found
            amr = tuple(dict.fromkeys((*session.amr, AMR_OTP)))
            updated = replace(session, otp_at=now, amr=amr)
            await self._sessions.update(updated, revision=revision)
            return updated

        session = await _with_retries(attempt)
        account = await self._accounts.get(actor.username)
        if account is None:
            raise Unauthenticated("account unknown")
        access_token, access_expires_at = await self._issue_access(account, session)
        await self._audit(
            AuditAction.LOGIN_STEP_UP, Outcome.SUCCESS, actor=actor.subject, client_address=client_address
        )
        return IssuedTokens(access_token=access_token, access_expires_at=access_expires_at)

    async def change_password(
        self, *, access_token: str, current_password: str, new_password: str, client_address: str
    ) -> None:
        """Change one's own password; every session of the account ends (log in again)."""
        client_address = _address(client_address)
        actor = await self.authenticate(access_token)
        await self._ensure_not_locked(actor.username, client_address)
        account = await self._accounts.get(actor.username)
        if account is None or not await self._verify_password(account.password_hash, current_password):
            raise await self._fail_login(
                AuditAction.ACCOUNT_PASSWORD_CHANGED,
                username=actor.username,
                client_address=client_address,
                reason="wrong_password",
            )
        validate_new_password(new_password, username=actor.username)
        new_hash = await self._hash_password(new_password)

        async def attempt() -> None:
            found = await self._accounts.get_for_update(actor.username)
            if found is None:
                raise Unauthenticated("account unknown")
            current, revision = found
            await self._accounts.update(
                replace(
                    current,
                    password_hash=new_hash,
                    epoch=current.epoch + 1,
                    updated_at=iso_time(self._clock()),
                ),
                revision=revision,
            )

        await _with_retries(attempt)
        await self._audit(
            AuditAction.ACCOUNT_PASSWORD_CHANGED,
            Outcome.SUCCESS,
            actor=actor.subject,
            client_address=client_address,
        )

    # ------------------------------------------------------------------ accounts and roles

    async def _ensure_units_exist(self, units: tuple[str, ...]) -> None:
        for unit in units:
            if await self._units.get(unit) is None:
                raise InvalidAccountRequest(f"unknown unit '{unit}'")

    async def create_account(
        self,
        *,
        access_token: str,
        client_address: str,
        username: str,
        display_name: str,
        role: str,
        units: tuple[str, ...],
    ) -> tuple[Account, str]:
        """Create an account with a random initial password (returned once). Step-up required."""
        client_address = _address(client_address)
        actor = await self.authenticate(access_token)
        name = validate_username(username)
        parsed_role, bound = validate_role_binding(role, units)
        if not may_grant(actor, parsed_role, bound):
            await self._deny(actor, client_address, "role_outside_authority", target=subject_of(name))
        self._require_step_up(actor)
        await self._ensure_units_exist(bound)
        password = new_initial_password()
        account = await self._new_account(
            username=name,
            display_name=validate_display_name(display_name),
            role=parsed_role,
            units=bound,
            password=password,
            created_by=actor.subject,
        )
        await self._audit(
            AuditAction.ACCOUNT_CREATED,
            Outcome.SUCCESS,
            actor=actor.subject,
            client_address=client_address,
            target=account.subject,
            unit=",".join(bound),
            details={"role": parsed_role.value},
        )
        return account, password

    async def _new_account(
        self,
        *,
        username: str,
        display_name: str,
        role: Role,
        units: tuple[str, ...],
        password: str,
        created_by: str,
    ) -> Account:
        stamp = iso_time(self._clock())
        account = Account(
            username=username,
            display_name=display_name,
            role=role,
            units=units,
            password_hash=await self._hash_password(password),
            created_at=stamp,
            updated_at=stamp,
            created_by=created_by,
        )
        await self._accounts.create(account)
        return account

    async def create_first_admin(
        self, *, username: str, display_name: str, password: str, allow_additional: bool = False
    ) -> tuple[Account, EnrolmentStart]:
        """For the admin CLI: a ministry admin with a pending authenticator (the QR to print).

        Refuses when a ministry admin exists already, unless `allow_additional` (break-glass).
        """
        name = validate_username(username)
        validate_new_password(password, username=name)
        existing = [account for account in await self._accounts.list() if account.role is Role.MINISTRY_ADMIN]
        if existing and not allow_additional:
            raise InvalidAccountRequest("a ministry admin exists already")
        try:
            await self._new_account(
                username=name,
                display_name=validate_display_name(display_name),
                role=Role.MINISTRY_ADMIN,
                units=(),
                password=password,
                created_by="cli",
            )
        except AlreadyExists as error:
            raise InvalidAccountRequest(f"account '{name}' exists already") from error
        secret = await self._set_pending_secret(name)
        await self._audit(
            AuditAction.ACCOUNT_CREATED,
            Outcome.SUCCESS,
            actor="cli",
            target=subject_of(name),
            details={"role": Role.MINISTRY_ADMIN.value},
        )
        account = await self._accounts.get(name)
        if account is None:  # pragma: no cover - just created
            raise NotFound(name)
        return account, self._enrolment_view(name, secret)

    async def get_account(self, *, access_token: str, username: str) -> Account:
        actor = await self.authenticate(access_token)
        account = await self._accounts.get(normalise_username(username))
        if account is None or not may_view(actor, account):
            raise NotFound(username)
        return account

    async def list_accounts(self, *, access_token: str) -> list[Account]:
        actor = await self.authenticate(access_token)
        return [account for account in await self._accounts.list() if may_view(actor, account)]

    async def _change_account(
        self,
        *,
        access_token: str,
        client_address: str,
        username: str,
        change: Callable[[Actor, Account], Account],
        action: AuditAction,
        details: Callable[[Account, Account], dict[str, str]],
    ) -> Account:
        """Shared path of role, status and authenticator changes: authority, step-up, CAS, epoch, audit."""
        client_address = _address(client_address)
        actor = await self.authenticate(access_token)
        name = normalise_username(username)

        async def attempt() -> tuple[Account, Account]:
            found = await self._accounts.get_for_update(name)
            if found is None or not may_view(actor, found[0]):
                raise NotFound(username)
            current, revision = found
            try:
                ensure_may_manage(actor, current)
                updated = change(actor, current)
            except PermissionDenied as error:
                await self._deny(actor, client_address, str(error), target=current.subject)
            self._require_step_up(actor)
            updated = replace(updated, epoch=current.epoch + 1, updated_at=iso_time(self._clock()))
            await self._accounts.update(updated, revision=revision)
            return current, updated

        before, after = await _with_retries(attempt)
        await self._audit(
            action,
            Outcome.SUCCESS,
            actor=actor.subject,
            client_address=client_address,
            target=after.subject,
            unit=",".join(after.units),
            details=details(before, after),
        )
        return after

    async def set_account_role(
        self, *, access_token: str, client_address: str, username: str, role: str, units: tuple[str, ...]
    ) -> Account:
        """Change an account's role and units (step-up). Its sessions end."""
        parsed_role, bound = validate_role_binding(role, units)
        await self._ensure_units_exist(bound)

        def change(actor: Actor, account: Account) -> Account:
            if not may_grant(actor, parsed_role, bound):
                raise PermissionDenied("role_outside_authority")
            return replace(account, role=parsed_role, units=bound)

        return await self._change_account(
            access_token=access_token,
            client_address=client_address,
            username=username,
            change=change,
            action=AuditAction.ACCOUNT_ROLE_CHANGED,
            details=lambda before, after: {
                "old_role": before.role.value,
                "new_role": after.role.value,
                "old_units": ",".join(before.units),
                "new_units": ",".join(after.units),
            },
        )

    async def set_account_disabled(
        self, *, access_token: str, client_address: str, username: str, disabled: bool
    ) -> Account:
        """Disable (sessions end at once) or re-enable an account (step-up)."""
        return await self._change_account(
            access_token=access_token,
            client_address=client_address,
            username=username,
            change=lambda _actor, account: replace(account, disabled=disabled),
            action=AuditAction.ACCOUNT_DISABLED if disabled else AuditAction.ACCOUNT_ENABLED,
            details=lambda _before, _after: {},
        )

    async def reset_account_otp(self, *, access_token: str, client_address: str, username: str) -> Account:
        """Forget an account's authenticator and recovery codes (lost phone); it enrols again."""
        return await self._change_account(
            access_token=access_token,
            client_address=client_address,
            username=username,
            change=lambda _actor, account: replace(
                account,
                otp_secret_sealed="",
                otp_pending_sealed="",
                otp_enrolled_at="",
                recovery_code_hashes=(),
            ),
            action=AuditAction.ACCOUNT_OTP_RESET,
            details=lambda _before, _after: {},
        )

    async def get_policy(self, *, access_token: str) -> SecurityPolicy:
        actor = await self.authenticate(access_token)
        if actor.role not in (Role.MINISTRY_ADMIN, Role.UNIT_ADMIN):
            raise PermissionDenied("admins only")
        return await self._policy.get()

    async def set_policy(
        self, *, access_token: str, client_address: str, otp_required_for_all: bool
    ) -> SecurityPolicy:
        """Require OTP of every account, or only of admins (ministry admin, step-up)."""
        client_address = _address(client_address)
        actor = await self._authorised_admin(access_token, client_address, step_up=True)

        async def attempt() -> SecurityPolicy:
            _, revision = await self._policy.get_for_update()
            updated = SecurityPolicy(
                otp_required_for_all=otp_required_for_all,
                updated_at=iso_time(self._clock()),
                updated_by=actor.subject,
            )
            await self._policy.put(updated, revision=revision)
            return updated

        policy = await _with_retries(attempt)
        await self._audit(
            AuditAction.POLICY_CHANGED,
            Outcome.SUCCESS,
            actor=actor.subject,
            client_address=client_address,
            details={"otp_required_for_all": str(otp_required_for_all).lower()},
        )
        return policy

    # ------------------------------------------------------------------ audit trail

    async def record_event(self, event: AuditEvent) -> AuditEvent:
        """Append an event sent by another service (documents, snapshots, units)."""
        validate_external_event(event)
        stamped = new_audit_event(
            now=self._clock(),
            actor=event.actor,
            action=event.action,
            outcome=event.outcome,
            client_address=event.client_address,
            target=event.target,
            unit=event.unit,
            reason=event.reason,
            details=event.details,
        )
        return await self._audit_trail.append(stamped)

    async def query_audit(
        self,
        *,
        access_token: str,
        client_address: str,
        audit_filter: AuditFilter,
        limit: int,
        after_sequence: int,
    ) -> AuditPage:
        """One page of matching events, oldest first (ministry admins)."""
        client_address = _address(client_address)
        actor = await self._authorised_admin(access_token, client_address, step_up=False)
        page_size = min(limit or DEFAULT_AUDIT_PAGE, MAX_AUDIT_PAGE)
        events: list[AuditEvent] = []
        last_seen, scanned, more = after_sequence, 0, False
        async with aclosing(
            self._audit_trail.scan(
                category=audit_filter.category, after_sequence=after_sequence, since=audit_filter.since
            )
        ) as stream:
            async for event in stream:
                if len(events) >= page_size or scanned >= MAX_AUDIT_SCANNED_PER_PAGE:
                    more = True
                    break
                scanned += 1
                last_seen = event.sequence
                if audit_filter.matches(event):
                    events.append(event)
        await self._audit(
            AuditAction.AUDIT_QUERIED,
            Outcome.SUCCESS,
            actor=actor.subject,
            client_address=client_address,
            details={"returned": str(len(events))},
        )
        return AuditPage(events=events, next_after_sequence=last_seen, more=more)

    async def export_audit(
        self, *, access_token: str, client_address: str, audit_filter: AuditFilter
    ) -> AsyncGenerator[AuditEvent, None]:
        """Every matching event, oldest first (ministry admins). The export itself is audited first."""
        client_address = _address(client_address)
        actor = await self._authorised_admin(access_token, client_address, step_up=False)
        await self._audit(
            AuditAction.AUDIT_EXPORTED, Outcome.SUCCESS, actor=actor.subject, client_address=client_address
        )
        return self._export(audit_filter)

    async def _export(self, audit_filter: AuditFilter) -> AsyncGenerator[AuditEvent, None]:
        async with aclosing(
            self._audit_trail.scan(category=audit_filter.category, since=audit_filter.since)
        ) as stream:
            async for event in stream:
                if audit_filter.matches(event):
                    yield event


def _unverified_kid(token: str) -> str:
    """The `kid` header, unverified (only to pick a key); InvalidToken when unreadable."""
    try:
        return str(jwt.get_unverified_header(token).get("kid", ""))
    except jwt.PyJWTError as error:
        raise InvalidToken("malformed token") from error
