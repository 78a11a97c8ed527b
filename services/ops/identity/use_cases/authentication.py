"""Who is calling: access tokens and their sessions, roles, and recent second factors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import jwt

from services.ops.identity.domain.accounts import Actor, PermissionDenied, Role, subject_of
from services.ops.identity.domain.audit import AuditAction, Outcome
from services.ops.identity.domain.errors import StepUpRequired, Unauthenticated
from services.ops.identity.domain.tokens import InvalidToken, otp_is_fresh, verify_access_token
from services.ops.identity.use_cases.context import IdentityContext, client_address_of
from services.ops.identity.use_cases.signing_keys import verification_keys


@dataclass(frozen=True, slots=True)
class SessionState:
    active: bool
    reason: str = ""


def unverified_kid(token: str) -> str:
    """The `kid` header, unverified (only to pick a key); InvalidToken when unreadable."""
    try:
        return str(jwt.get_unverified_header(token).get("kid", ""))
    except jwt.PyJWTError as error:
        raise InvalidToken("malformed token") from error


async def check_session(ctx: IdentityContext, session_id: str, subject: str) -> SessionState:
    """Is the session behind an access token still valid (not revoked, account unchanged)?"""
    session = await ctx.sessions.get(session_id) if session_id else None
    if session is None or subject_of(session.username) != subject:
        return SessionState(active=False, reason="unknown")
    if session.revoked_at:
        return SessionState(active=False, reason="revoked")
    if not session.is_active(ctx.clock()):
        return SessionState(active=False, reason="expired")
    account = await ctx.accounts.get(session.username)
    if account is None or account.disabled or account.epoch != session.account_epoch:
        return SessionState(active=False, reason="account_changed")
    return SessionState(active=True)


async def authenticate(ctx: IdentityContext, access_token: str) -> Actor:
    """Verify an access token (signature, lifetime) and its session; Unauthenticated otherwise."""
    try:
        kid = unverified_kid(access_token)
        claims = verify_access_token(
            access_token,
            keys=await verification_keys(ctx, kid),
            issuer=ctx.config.tokens.issuer,
            audience=ctx.config.tokens.audience,
            now=ctx.clock(),
            leeway=ctx.config.tokens.leeway_seconds,
        )
        role = Role(claims.role)
    except (InvalidToken, ValueError) as error:
        raise Unauthenticated("access token invalid") from error
    state = await check_session(ctx, claims.session_id, claims.subject)
    if not state.active:
        raise Unauthenticated(f"session {state.reason}")
    return Actor(
        username=claims.username,
        role=role,
        units=claims.units,
        otp_at=claims.otp_at,
        session_id=claims.session_id,
    )


def require_step_up(ctx: IdentityContext, actor: Actor) -> None:
    if not otp_is_fresh(actor.otp_at, now=ctx.clock(), max_age_seconds=ctx.config.step_up_max_age_seconds):
        raise StepUpRequired(
            f"confirm with a one-time code (needed within {ctx.config.step_up_max_age_seconds} s)"
        )


async def authorised_admin(
    ctx: IdentityContext, access_token: str, client_address: str, *, step_up: bool
) -> Actor:
    actor = await authenticate(ctx, access_token)
    if actor.role is not Role.MINISTRY_ADMIN:
        await deny(ctx, actor, client_address, "ministry_admin_required")
    if step_up:
        require_step_up(ctx, actor)
    return actor


async def authorise_dangerous(
    ctx: IdentityContext, *, access_token: str, client_address: str, unit: str | None, action: str
) -> Actor:
    """For other ops use cases (restore, snapshot deletion): a ministry admin, or for `unit` that
    unit's admin, whose OTP is recent. Raises Unauthenticated, PermissionDenied (audited) or
    StepUpRequired; returns the actor to record in the use case's own audit event."""
    client_address = client_address_of(client_address)
    actor = await authenticate(ctx, access_token)
    unit_admin_of_unit = actor.role is Role.UNIT_ADMIN and unit is not None and unit in actor.units
    if actor.role is not Role.MINISTRY_ADMIN and not unit_admin_of_unit:
        await deny(ctx, actor, client_address, f"{action}: admin_required", target=unit or "")
    require_step_up(ctx, actor)
    return actor


async def deny(
    ctx: IdentityContext, actor: Actor, client_address: str, reason: str, *, target: str = ""
) -> NoReturn:
    """Audit a refused action and raise PermissionDenied."""
    await ctx.audit(
        AuditAction.ACCESS_DENIED,
        Outcome.DENIED,
        actor=actor.subject,
        client_address=client_address,
        target=target,
        reason=reason,
    )
    raise PermissionDenied(reason)
