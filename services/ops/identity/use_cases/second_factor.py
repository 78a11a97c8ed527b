"""What login, enrolment and step-up share: login challenges and checking a TOTP code once."""

from __future__ import annotations

from dataclasses import replace

from services.ops.identity.adapters.kv_repositories import ConcurrentUpdate
from services.ops.identity.domain.accounts import Account
from services.ops.identity.domain.login import (
    ChallengeFailed,
    ChallengePurpose,
    LoginChallenge,
    valid_challenge_id,
)
from services.ops.identity.domain.totp import TotpCheck, check_totp
from services.ops.identity.use_cases.context import IdentityContext, with_retries


def totp_context(username: str) -> str:
    return f"totp:{username}"


def pending_totp_context(username: str) -> str:
    return f"totp-pending:{username}"


async def load_challenge(
    ctx: IdentityContext, challenge_id: str, purpose: ChallengePurpose
) -> tuple[LoginChallenge, int, Account]:
    found = await ctx.challenges.get_for_update(challenge_id) if valid_challenge_id(challenge_id) else None
    if found is None:
        raise ChallengeFailed("login challenge unknown or expired")
    challenge, revision = found
    if challenge.purpose is not purpose or not challenge.usable(
        now=ctx.clock(), max_attempts=ctx.config.challenge_max_attempts
    ):
        raise ChallengeFailed("login challenge unknown or expired")
    account = await ctx.accounts.get(challenge.username)
    if account is None or account.disabled or account.epoch != challenge.account_epoch:
        raise ChallengeFailed("login challenge unknown or expired")
    return challenge, revision, account


async def spend_attempt(ctx: IdentityContext, challenge: LoginChallenge, revision: int) -> None:
    try:
        await ctx.challenges.update(challenge.with_failed_attempt(), revision=revision)
    except ConcurrentUpdate:
        return


async def consume_challenge(ctx: IdentityContext, challenge: LoginChallenge, revision: int) -> None:
    """Delete the challenge at exactly the revision read: it completes one login only."""
    try:
        await ctx.challenges.update(
            replace(challenge, attempts=ctx.config.challenge_max_attempts), revision=revision
        )
    except ConcurrentUpdate as error:
        raise ChallengeFailed("login challenge already used") from error
    await ctx.challenges.delete(challenge.challenge_id)


async def use_totp(ctx: IdentityContext, username: str, code: str) -> TotpCheck:
    """Check a code against the enrolled secret and, when accepted, record its step (no replay)."""

    async def attempt() -> TotpCheck:
        found = await ctx.accounts.get_for_update(username)
        if found is None or not found[0].otp_enrolled:
            return TotpCheck(accepted=False)
        account, revision = found
        secret = ctx.box.open(account.otp_secret_sealed, context=totp_context(username)).decode()
        check = check_totp(secret, code, now=ctx.clock(), last_used_step=account.otp_last_step)
        if check.accepted:
            await ctx.accounts.update(replace(account, otp_last_step=check.step), revision=revision)
        return check

    return await with_retries(attempt)
