"""Failed logins: counted per account and per client address, audited, and locked out past a threshold."""

from __future__ import annotations

from services.ops.identity.domain.accounts import subject_of
from services.ops.identity.domain.audit import AuditAction, Outcome
from services.ops.identity.domain.errors import LoginFailed
from services.ops.identity.domain.throttling import FailureCounter, LockedOut, ThrottleScope, throttle_key
from services.ops.identity.use_cases.context import IdentityContext, log, with_retries


async def ensure_not_locked(ctx: IdentityContext, username: str, client_address: str) -> None:
    """Raise LockedOut (audited) while the account or the address is locked out."""
    now = ctx.clock()
    for scope, identifier in ((ThrottleScope.ACCOUNT, username), (ThrottleScope.ADDRESS, client_address)):
        counter, _ = await ctx.throttle.get_for_update(throttle_key(scope, identifier))
        remaining = counter.locked_for(now)
        if remaining:
            await ctx.audit(
                AuditAction.LOGIN_LOCKED_OUT,
                Outcome.DENIED,
                actor=subject_of(username),
                client_address=client_address,
                reason=f"{scope.value}_locked",
                details={"retry_after_seconds": str(remaining)},
            )
            raise LockedOut(remaining)


async def count_failure(ctx: IdentityContext, scope: ThrottleScope, identifier: str) -> FailureCounter:
    key = throttle_key(scope, identifier)
    threshold = ctx.config.throttle.threshold(scope)

    async def attempt() -> FailureCounter:
        counter, revision = await ctx.throttle.get_for_update(key)
        updated = counter.after_failure(now=ctx.clock(), threshold=threshold, policy=ctx.config.throttle)
        if updated != counter:
            await ctx.throttle.put(key, updated, revision=revision)
        return updated

    return await with_retries(attempt)


async def fail_login(
    ctx: IdentityContext, action: AuditAction, *, username: str, client_address: str, reason: str
) -> LoginFailed:
    """Count the failure on both counters, audit it (and any lockout); returns the error to raise."""
    await ctx.audit(
        action, Outcome.FAILURE, actor=subject_of(username), client_address=client_address, reason=reason
    )
    now = ctx.clock()
    for scope, identifier in ((ThrottleScope.ACCOUNT, username), (ThrottleScope.ADDRESS, client_address)):
        counter = await count_failure(ctx, scope, identifier)
        if counter.locked_for(now):
            await ctx.audit(
                AuditAction.LOGIN_LOCKED_OUT,
                Outcome.DENIED,
                actor=subject_of(username),
                client_address=client_address,
                reason=f"{scope.value}_threshold_reached",
                details={"lockout_seconds": str(ctx.config.throttle.lockout_seconds)},
            )
    log.warning("login_failed", action=action.value, reason=reason)
    return LoginFailed("username, password or code is wrong")
