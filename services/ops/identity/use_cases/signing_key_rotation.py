"""Rotate the signing key now (ministry admin, step-up), e.g. after a suspected leak."""

from __future__ import annotations

from services.ops.identity.domain.audit import AuditAction, Outcome
from services.ops.identity.domain.tokens import SigningKey
from services.ops.identity.use_cases.authentication import authorised_admin
from services.ops.identity.use_cases.context import IdentityContext
from services.ops.identity.use_cases.signing_keys import load_keys, published, rotate_keys


async def rotate_signing_key(
    ctx: IdentityContext, *, access_token: str, client_address: str
) -> tuple[list[SigningKey], str]:
    """Make a new key active now (ministry admin, step-up)."""
    actor = await authorised_admin(ctx, access_token, client_address, step_up=True)
    fresh = await rotate_keys(ctx)
    await ctx.audit(
        AuditAction.SIGNING_KEY_ROTATED,
        Outcome.SUCCESS,
        actor=actor.subject,
        client_address=client_address,
        target=fresh.kid,
    )
    return published(ctx, await load_keys(ctx)), fresh.kid
