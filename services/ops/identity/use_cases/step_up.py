"""Step-up: prove the second factor again before a dangerous operation."""

from __future__ import annotations

from dataclasses import replace

from services.ops.identity.domain.audit import AuditAction, Outcome
from services.ops.identity.domain.errors import Unauthenticated
from services.ops.identity.domain.tokens import AMR_OTP, Session
from services.ops.identity.use_cases.authentication import authenticate
from services.ops.identity.use_cases.context import IdentityContext, client_address_of, with_retries
from services.ops.identity.use_cases.login_failures import ensure_not_locked, fail_login
from services.ops.identity.use_cases.second_factor import use_totp
from services.ops.identity.use_cases.sessions import IssuedTokens, issue_access


async def step_up(ctx: IdentityContext, *, access_token: str, code: str, client_address: str) -> IssuedTokens:
    """Prove the second factor again; the new access token's otp_at is now."""
    client_address = client_address_of(client_address)
    actor = await authenticate(ctx, access_token)
    await ensure_not_locked(ctx, actor.username, client_address)
    check = await use_totp(ctx, actor.username, code)
    if not check.accepted:
        raise await fail_login(
            ctx,
            AuditAction.LOGIN_STEP_UP,
            username=actor.username,
            client_address=client_address,
            reason="replayed_code" if check.replayed else "wrong_code",
        )
    now = ctx.clock()

    async def attempt() -> Session:
        found = await ctx.sessions.get_for_update(actor.session_id)
        if found is None:
            raise Unauthenticated("session unknown")
        session, revision = found
        amr = tuple(dict.fromkeys((*session.amr, AMR_OTP)))
        updated = replace(session, otp_at=now, amr=amr)
        await ctx.sessions.update(updated, revision=revision)
        return updated

    session = await with_retries(attempt)
    account = await ctx.accounts.get(actor.username)
    if account is None:
        raise Unauthenticated("account unknown")
    access_token, access_expires_at = await issue_access(ctx, account, session)
    await ctx.audit(
        AuditAction.LOGIN_STEP_UP, Outcome.SUCCESS, actor=actor.subject, client_address=client_address
    )
    return IssuedTokens(access_token=access_token, access_expires_at=access_expires_at)
