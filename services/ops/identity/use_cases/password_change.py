"""Change one's own password."""

from __future__ import annotations

from dataclasses import replace

from services.ops.identity.domain.accounts import validate_new_password
from services.ops.identity.domain.audit import AuditAction, Outcome, iso_time
from services.ops.identity.domain.errors import Unauthenticated
from services.ops.identity.use_cases.authentication import authenticate
from services.ops.identity.use_cases.context import IdentityContext, client_address_of, with_retries
from services.ops.identity.use_cases.login_failures import ensure_not_locked, fail_login


async def change_password(
    ctx: IdentityContext, *, access_token: str, current_password: str, new_password: str, client_address: str
) -> None:
    """Change one's own password; every session of the account ends (log in again)."""
    client_address = client_address_of(client_address)
    actor = await authenticate(ctx, access_token)
    await ensure_not_locked(ctx, actor.username, client_address)
    account = await ctx.accounts.get(actor.username)
    if account is None or not await ctx.verify_password(account.password_hash, current_password):
        raise await fail_login(
            ctx,
            AuditAction.ACCOUNT_PASSWORD_CHANGED,
            username=actor.username,
            client_address=client_address,
            reason="wrong_password",
        )
    validate_new_password(new_password, username=actor.username)
    new_hash = await ctx.hash_password(new_password)

    async def attempt() -> None:
        found = await ctx.accounts.get_for_update(actor.username)
        if found is None:
            raise Unauthenticated("account unknown")
        current, revision = found
        await ctx.accounts.update(
            replace(
                current,
                password_hash=new_hash,
                epoch=current.epoch + 1,
                updated_at=iso_time(ctx.clock()),
            ),
            revision=revision,
        )

    await with_retries(attempt)
    await ctx.audit(
        AuditAction.ACCOUNT_PASSWORD_CHANGED,
        Outcome.SUCCESS,
        actor=actor.subject,
        client_address=client_address,
    )
