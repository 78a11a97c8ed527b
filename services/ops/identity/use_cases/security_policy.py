"""The ministry-wide security policy: whether every account, or only admins, must use OTP."""

from __future__ import annotations

from services.ops.identity.domain.accounts import PermissionDenied, Role, SecurityPolicy
from services.ops.identity.domain.audit import AuditAction, Outcome, iso_time
from services.ops.identity.use_cases.authentication import authenticate, authorised_admin
from services.ops.identity.use_cases.context import IdentityContext, client_address_of, with_retries


async def get_policy(ctx: IdentityContext, *, access_token: str) -> SecurityPolicy:
    actor = await authenticate(ctx, access_token)
    if actor.role not in (Role.MINISTRY_ADMIN, Role.UNIT_ADMIN):
        raise PermissionDenied("admins only")
    return await ctx.policy.get()


async def set_policy(
    ctx: IdentityContext, *, access_token: str, client_address: str, otp_required_for_all: bool
) -> SecurityPolicy:
    """Require OTP of every account, or only of admins (ministry admin, step-up)."""
    client_address = client_address_of(client_address)
    actor = await authorised_admin(ctx, access_token, client_address, step_up=True)

    async def attempt() -> SecurityPolicy:
        _, revision = await ctx.policy.get_for_update()
        updated = SecurityPolicy(
            otp_required_for_all=otp_required_for_all,
            updated_at=iso_time(ctx.clock()),
            updated_by=actor.subject,
        )
        await ctx.policy.put(updated, revision=revision)
        return updated

    policy = await with_retries(attempt)
    await ctx.audit(
        AuditAction.POLICY_CHANGED,
        Outcome.SUCCESS,
        actor=actor.subject,
        client_address=client_address,
        details={"otp_required_for_all": str(otp_required_for_all).lower()},
    )
    return policy
