"""Refresh (rotate the refresh token, detect reuse) and log out."""

from __future__ import annotations

from services.ops.identity.domain.accounts import Account, subject_of
from services.ops.identity.domain.audit import AuditAction, Outcome
from services.ops.identity.domain.errors import Unauthenticated
from services.ops.identity.domain.tokens import RefreshOutcome, Session, parse_refresh_token, rotate_session
from services.ops.identity.use_cases.authentication import authenticate
from services.ops.identity.use_cases.context import IdentityContext, client_address_of, with_retries
from services.ops.identity.use_cases.sessions import IssuedTokens, issue_access, revoke_session


async def refresh(ctx: IdentityContext, *, refresh_token: str, client_address: str) -> IssuedTokens:
    """Rotate a refresh token. Reuse of a rotated token revokes the family."""
    client_address = client_address_of(client_address)
    parsed = parse_refresh_token(refresh_token)
    if parsed is None:
        raise Unauthenticated("refresh token malformed")
    session_id, secret = parsed

    async def attempt() -> tuple[Session, str, Account]:
        found = await ctx.sessions.get_for_update(session_id)
        if found is None:
            raise Unauthenticated("refresh token unknown")
        session, revision = found
        rotated, new_token, outcome = rotate_session(session, secret, now=ctx.clock())
        if outcome is RefreshOutcome.REUSED:
            if rotated != session:
                await ctx.sessions.update(rotated, revision=revision)
            await ctx.audit(
                AuditAction.TOKEN_REUSE_DETECTED,
                Outcome.DENIED,
                actor=subject_of(session.username),
                client_address=client_address,
                reason="rotated_refresh_token_presented",
                details={"session_id": session.session_id},
            )
            raise Unauthenticated("refresh token reused; session revoked")
        if outcome is not RefreshOutcome.ROTATED or new_token is None:
            await ctx.audit(
                AuditAction.TOKEN_REFRESHED,
                Outcome.FAILURE,
                actor=subject_of(session.username),
                client_address=client_address,
                reason=outcome.value,
            )
            raise Unauthenticated(f"refresh token {outcome.value}")
        account = await ctx.accounts.get(session.username)
        if account is None or account.disabled or account.epoch != session.account_epoch:
            await ctx.sessions.update(
                session.revoked(now=ctx.clock(), reason="account_changed"), revision=revision
            )
            raise Unauthenticated("account changed; log in again")
        await ctx.sessions.update(rotated, revision=revision)
        return rotated, new_token, account

    session, new_refresh, account = await with_retries(attempt)
    access_token, access_expires_at = await issue_access(ctx, account, session)
    await ctx.audit(
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


async def logout(ctx: IdentityContext, *, access_token: str, refresh_token: str, client_address: str) -> None:
    """End the session named by a valid access token, or by its current refresh token."""
    client_address = client_address_of(client_address)
    session_id = ""
    if access_token:
        session_id = (await authenticate(ctx, access_token)).session_id
    elif refresh_token:
        parsed = parse_refresh_token(refresh_token)
        session = await ctx.sessions.get(parsed[0]) if parsed else None
        if parsed is None or session is None:
            raise Unauthenticated("refresh token unknown")
        _, _, outcome = rotate_session(session, parsed[1], now=ctx.clock())
        if outcome is not RefreshOutcome.ROTATED:
            raise Unauthenticated("refresh token not current")
        session_id = session.session_id
    else:
        raise Unauthenticated("nothing to log out")
    session = await revoke_session(ctx, session_id, "logout")
    if session is not None:
        await ctx.audit(
            AuditAction.TOKEN_LOGOUT,
            Outcome.SUCCESS,
            actor=subject_of(session.username),
            client_address=client_address,
            details={"session_id": session_id},
        )
