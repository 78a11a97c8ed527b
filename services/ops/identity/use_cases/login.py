"""Log in: a password first, then (when OTP is required) a TOTP code or a single-use recovery code."""

from __future__ import annotations

from dataclasses import replace

from services.ops.identity.adapters.kv_repositories import ConcurrentUpdate
from services.ops.identity.domain.accounts import USERNAME_PATTERN, Account, normalise_username
from services.ops.identity.domain.audit import AuditAction, Outcome
from services.ops.identity.domain.login import ChallengePurpose, new_challenge
from services.ops.identity.domain.tokens import AMR_OTP, AMR_PASSWORD, AMR_RECOVERY_CODE
from services.ops.identity.domain.totp import match_recovery_code
from services.ops.identity.use_cases.context import IdentityContext, client_address_of, with_retries
from services.ops.identity.use_cases.login_failures import ensure_not_locked, fail_login
from services.ops.identity.use_cases.second_factor import (
    consume_challenge,
    load_challenge,
    spend_attempt,
    use_totp,
)
from services.ops.identity.use_cases.sessions import NEXT_ENROL, NEXT_OTP, LoginResult, complete_login


async def start_login(
    ctx: IdentityContext, *, username: str, password: str, client_address: str
) -> LoginResult:
    """Check the password (same work and same answer whether or not the account exists)."""
    client_address = client_address_of(client_address)
    name = normalise_username(username)
    await ensure_not_locked(ctx, name, client_address)
    account = await ctx.accounts.get(name) if USERNAME_PATTERN.match(name) else None
    matches = await ctx.verify_password(account.password_hash if account else None, password)
    if account is None or not matches or account.disabled:
        reason = "unknown_account" if account is None else ("disabled" if matches else "wrong_password")
        raise await fail_login(
            ctx, AuditAction.LOGIN_PASSWORD, username=name, client_address=client_address, reason=reason
        )
    if ctx.passwords.needs_rehash(account.password_hash):
        await rehash(ctx, account, password)
    policy = await ctx.policy.get()
    if not account.requires_otp(policy):
        return await complete_login(
            ctx,
            account,
            amr=(AMR_PASSWORD,),
            action=AuditAction.LOGIN_PASSWORD,
            client_address=client_address,
        )
    purpose = ChallengePurpose.OTP if account.otp_enrolled else ChallengePurpose.ENROL
    challenge = new_challenge(
        username=account.username,
        purpose=purpose,
        account_epoch=account.epoch,
        now=ctx.clock(),
        ttl=ctx.config.challenge_ttl_seconds,
    )
    await ctx.challenges.create(challenge)
    await ctx.audit(
        AuditAction.LOGIN_PASSWORD,
        Outcome.SUCCESS,
        actor=account.subject,
        client_address=client_address,
        details={"next": purpose.value},
    )
    return LoginResult(next=NEXT_OTP if purpose is ChallengePurpose.OTP else NEXT_ENROL, challenge=challenge)


async def rehash(ctx: IdentityContext, account: Account, password: str) -> None:
    """Upgrade a hash made with older cost parameters (best effort: a concurrent change wins)."""
    new_hash = await ctx.hash_password(password)
    found = await ctx.accounts.get_for_update(account.username)
    if found is None or found[0].password_hash != account.password_hash:
        return
    try:
        await ctx.accounts.update(replace(found[0], password_hash=new_hash), revision=found[1])
    except ConcurrentUpdate:
        return


async def verify_login_otp(
    ctx: IdentityContext, *, challenge_id: str, code: str, client_address: str
) -> LoginResult:
    """Second step with a TOTP code."""
    client_address = client_address_of(client_address)
    challenge, revision, account = await load_challenge(ctx, challenge_id, ChallengePurpose.OTP)
    await ensure_not_locked(ctx, account.username, client_address)
    check = await use_totp(ctx, account.username, code)
    if not check.accepted:
        await spend_attempt(ctx, challenge, revision)
        raise await fail_login(
            ctx,
            AuditAction.LOGIN_OTP,
            username=account.username,
            client_address=client_address,
            reason="replayed_code" if check.replayed else "wrong_code",
        )
    await consume_challenge(ctx, challenge, revision)
    return await complete_login(
        ctx, account, amr=(AMR_PASSWORD, AMR_OTP), action=AuditAction.LOGIN_OTP, client_address=client_address
    )


async def verify_recovery_code(
    ctx: IdentityContext, *, challenge_id: str, recovery_code: str, client_address: str
) -> LoginResult:
    """Second step with a single-use recovery code (it is struck off when accepted)."""
    client_address = client_address_of(client_address)
    challenge, revision, account = await load_challenge(ctx, challenge_id, ChallengePurpose.OTP)
    await ensure_not_locked(ctx, account.username, client_address)

    async def attempt() -> int | None:
        found = await ctx.accounts.get_for_update(account.username)
        if found is None:
            return None
        current, account_revision = found
        index = match_recovery_code(recovery_code, current.recovery_code_hashes)
        if index is None:
            return None
        left = current.recovery_code_hashes[:index] + current.recovery_code_hashes[index + 1 :]
        await ctx.accounts.update(replace(current, recovery_code_hashes=left), revision=account_revision)
        return len(left)

    left = await with_retries(attempt)
    if left is None:
        await spend_attempt(ctx, challenge, revision)
        raise await fail_login(
            ctx,
            AuditAction.LOGIN_RECOVERY_CODE,
            username=account.username,
            client_address=client_address,
            reason="wrong_or_used_recovery_code",
        )
    await consume_challenge(ctx, challenge, revision)
    return await complete_login(
        ctx,
        account,
        amr=(AMR_PASSWORD, AMR_RECOVERY_CODE),
        action=AuditAction.LOGIN_RECOVERY_CODE,
        client_address=client_address,
        recovery_codes_left=left,
    )
