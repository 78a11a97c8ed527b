"""Enrol an authenticator: a pending TOTP secret shown as URI and QR, confirmed by a first code."""

from __future__ import annotations

from dataclasses import dataclass, replace

from services.ops.identity.domain.accounts import Account, PermissionDenied
from services.ops.identity.domain.audit import AuditAction, Outcome, iso_time
from services.ops.identity.domain.errors import Unauthenticated
from services.ops.identity.domain.login import ChallengePurpose, LoginChallenge
from services.ops.identity.domain.tokens import AMR_OTP, AMR_PASSWORD
from services.ops.identity.domain.totp import (
    check_totp,
    new_recovery_codes,
    new_totp_secret,
    provisioning_uri,
    qr_png,
    qr_svg,
)
from services.ops.identity.use_cases.authentication import authenticate
from services.ops.identity.use_cases.context import IdentityContext, client_address_of, with_retries
from services.ops.identity.use_cases.login_failures import ensure_not_locked, fail_login
from services.ops.identity.use_cases.second_factor import (
    consume_challenge,
    load_challenge,
    pending_totp_context,
    spend_attempt,
    totp_context,
)
from services.ops.identity.use_cases.sessions import IssuedTokens, complete_login


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


async def enrolling_account(
    ctx: IdentityContext, challenge_id: str, access_token: str
) -> tuple[Account, tuple[LoginChallenge, int] | None]:
    if challenge_id:
        challenge, revision, account = await load_challenge(ctx, challenge_id, ChallengePurpose.ENROL)
        return account, (challenge, revision)
    actor = await authenticate(ctx, access_token)
    found = await ctx.accounts.get(actor.username)
    if found is None:
        raise Unauthenticated("account unknown")
    if found.otp_enrolled:
        raise PermissionDenied("an authenticator is enrolled already; an admin can reset it")
    return found, None


async def start_enrolment(
    ctx: IdentityContext, *, challenge_id: str, access_token: str, client_address: str
) -> EnrolmentStart:
    """A fresh pending secret (replacing any earlier pending one), as URI and QR codes."""
    client_address = client_address_of(client_address)
    account, _ = await enrolling_account(ctx, challenge_id, access_token)
    secret = await set_pending_secret(ctx, account.username)
    await ctx.audit(
        AuditAction.OTP_ENROLMENT_STARTED,
        Outcome.SUCCESS,
        actor=account.subject,
        client_address=client_address,
    )
    return enrolment_view(ctx, account.username, secret)


def enrolment_view(ctx: IdentityContext, username: str, secret: str) -> EnrolmentStart:
    uri = provisioning_uri(secret, username=username, issuer=ctx.config.otp_issuer)
    return EnrolmentStart(otpauth_uri=uri, secret=secret, qr_svg=qr_svg(uri), qr_png=qr_png(uri))


async def set_pending_secret(ctx: IdentityContext, username: str) -> str:
    secret = new_totp_secret()
    sealed = ctx.box.seal(secret.encode(), context=pending_totp_context(username))

    async def attempt() -> None:
        found = await ctx.accounts.get_for_update(username)
        if found is None:
            raise Unauthenticated("account unknown")
        await ctx.accounts.update(replace(found[0], otp_pending_sealed=sealed), revision=found[1])

    await with_retries(attempt)
    return secret


async def confirm_enrolment(
    ctx: IdentityContext, *, challenge_id: str, access_token: str, code: str, client_address: str
) -> EnrolmentResult:
    """Confirm the pending secret with a first code; returns recovery codes (and tokens at login)."""
    client_address = client_address_of(client_address)
    account, challenge = await enrolling_account(ctx, challenge_id, access_token)
    await ensure_not_locked(ctx, account.username, client_address)

    async def attempt() -> tuple[Account, list[str]] | None:
        found = await ctx.accounts.get_for_update(account.username)
        if found is None or not found[0].otp_pending_sealed:
            return None
        current, revision = found
        secret = ctx.box.open(current.otp_pending_sealed, context=pending_totp_context(current.username))
        check = check_totp(secret.decode(), code, now=ctx.clock(), last_used_step=current.otp_last_step)
        if not check.accepted:
            return None
        codes, hashes = new_recovery_codes()
        enrolled = replace(
            current,
            otp_secret_sealed=ctx.box.seal(secret, context=totp_context(current.username)),
            otp_pending_sealed="",
            otp_enrolled_at=iso_time(ctx.clock()),
            otp_last_step=check.step,
            recovery_code_hashes=hashes,
        )
        await ctx.accounts.update(enrolled, revision=revision)
        return enrolled, codes

    outcome = await with_retries(attempt)
    if outcome is None:
        if challenge is not None:
            await spend_attempt(ctx, *challenge)
        raise await fail_login(
            ctx,
            AuditAction.OTP_ENROLMENT_CONFIRMED,
            username=account.username,
            client_address=client_address,
            reason="wrong_code_or_no_pending_enrolment",
        )
    enrolled, codes = outcome
    await ctx.audit(
        AuditAction.OTP_ENROLMENT_CONFIRMED,
        Outcome.SUCCESS,
        actor=enrolled.subject,
        client_address=client_address,
    )
    tokens: IssuedTokens | None = None
    if challenge is not None:
        await consume_challenge(ctx, *challenge)
        login = await complete_login(
            ctx,
            enrolled,
            amr=(AMR_PASSWORD, AMR_OTP),
            action=AuditAction.LOGIN_OTP,
            client_address=client_address,
        )
        tokens = login.tokens
    return EnrolmentResult(recovery_codes=codes, tokens=tokens)
