"""Sessions: a completed login opens one (a refresh-token family) and gets its first access token."""

from __future__ import annotations

from dataclasses import dataclass

from services.ops.identity.domain.accounts import Account
from services.ops.identity.domain.audit import AuditAction, Outcome
from services.ops.identity.domain.login import LoginChallenge
from services.ops.identity.domain.throttling import ThrottleScope, throttle_key
from services.ops.identity.domain.tokens import (
    AMR_OTP,
    AMR_RECOVERY_CODE,
    Session,
    issue_access_token,
    new_session,
)
from services.ops.identity.use_cases.context import IdentityContext, log, with_retries
from services.ops.identity.use_cases.signing_keys import ensure_signing_key

NEXT_OTP = "otp"
NEXT_ENROL = "enrol"
NEXT_DONE = "done"


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


async def issue_access(ctx: IdentityContext, account: Account, session: Session) -> tuple[str, int]:
    key = await ensure_signing_key(ctx)
    return issue_access_token(
        key=key, account=account, session=session, now=ctx.clock(), settings=ctx.config.tokens
    )


async def complete_login(
    ctx: IdentityContext,
    account: Account,
    *,
    amr: tuple[str, ...],
    action: AuditAction,
    client_address: str,
    recovery_codes_left: int = 0,
) -> LoginResult:
    now = ctx.clock()
    await ctx.throttle.clear(throttle_key(ThrottleScope.ACCOUNT, account.username))
    second_factor = AMR_OTP in amr or AMR_RECOVERY_CODE in amr
    session, refresh_token = new_session(
        username=account.username,
        account_epoch=account.epoch,
        otp_at=now if second_factor else None,
        amr=amr,
        now=now,
        ttl=ctx.config.tokens.refresh_ttl_seconds,
    )
    await ctx.sessions.create(session)
    access_token, access_expires_at = await issue_access(ctx, account, session)
    await ctx.audit(
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


async def revoke_session(ctx: IdentityContext, session_id: str, reason: str) -> Session | None:
    async def attempt() -> Session | None:
        found = await ctx.sessions.get_for_update(session_id)
        if found is None:
            return None
        session, revision = found
        revoked = session.revoked(now=ctx.clock(), reason=reason)
        if revoked != session:
            await ctx.sessions.update(revoked, revision=revision)
        return revoked

    return await with_retries(attempt)
