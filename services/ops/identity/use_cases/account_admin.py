"""Accounts and roles, run by admins within their authority (step-up for every change).

Also the first ministry admin, made by the admin CLI on a fresh install.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from services.ops.identity.adapters.security_repositories import AlreadyExists
from services.ops.identity.domain.accounts import (
    Account,
    Actor,
    InvalidAccountRequest,
    PermissionDenied,
    Role,
    ensure_may_manage,
    may_grant,
    may_view,
    new_initial_password,
    normalise_username,
    subject_of,
    validate_display_name,
    validate_new_password,
    validate_role_binding,
    validate_username,
)
from services.ops.identity.domain.audit import AuditAction, Outcome, iso_time
from services.ops.identity.domain.errors import NotFound
from services.ops.identity.use_cases.authentication import authenticate, deny, require_step_up
from services.ops.identity.use_cases.context import IdentityContext, client_address_of, with_retries
from services.ops.identity.use_cases.enrolment import EnrolmentStart, enrolment_view, set_pending_secret


async def ensure_units_exist(ctx: IdentityContext, units: tuple[str, ...]) -> None:
    for unit in units:
        if await ctx.units.get(unit) is None:
            raise InvalidAccountRequest(f"unknown unit '{unit}'")


async def create_account(
    ctx: IdentityContext,
    *,
    access_token: str,
    client_address: str,
    username: str,
    display_name: str,
    role: str,
    units: tuple[str, ...],
) -> tuple[Account, str]:
    """Create an account with a random initial password (returned once). Step-up required."""
    client_address = client_address_of(client_address)
    actor = await authenticate(ctx, access_token)
    name = validate_username(username)
    parsed_role, bound = validate_role_binding(role, units)
    if not may_grant(actor, parsed_role, bound):
        await deny(ctx, actor, client_address, "role_outside_authority", target=subject_of(name))
    require_step_up(ctx, actor)
    await ensure_units_exist(ctx, bound)
    password = new_initial_password()
    account = await new_account(
        ctx,
        username=name,
        display_name=validate_display_name(display_name),
        role=parsed_role,
        units=bound,
        password=password,
        created_by=actor.subject,
    )
    await ctx.audit(
        AuditAction.ACCOUNT_CREATED,
        Outcome.SUCCESS,
        actor=actor.subject,
        client_address=client_address,
        target=account.subject,
        unit=",".join(bound),
        details={"role": parsed_role.value},
    )
    return account, password


async def new_account(
    ctx: IdentityContext,
    *,
    username: str,
    display_name: str,
    role: Role,
    units: tuple[str, ...],
    password: str,
    created_by: str,
) -> Account:
    stamp = iso_time(ctx.clock())
    account = Account(
        username=username,
        display_name=display_name,
        role=role,
        units=units,
        password_hash=await ctx.hash_password(password),
        created_at=stamp,
        updated_at=stamp,
        created_by=created_by,
    )
    await ctx.accounts.create(account)
    return account


async def create_first_admin(
    ctx: IdentityContext, *, username: str, display_name: str, password: str, allow_additional: bool = False
) -> tuple[Account, EnrolmentStart]:
    """For the admin CLI: a ministry admin with a pending authenticator (the QR to print).

    Refuses when a ministry admin exists already, unless `allow_additional` (break-glass).
    """
    name = validate_username(username)
    validate_new_password(password, username=name)
    existing = [account for account in await ctx.accounts.list() if account.role is Role.MINISTRY_ADMIN]
    if existing and not allow_additional:
        raise InvalidAccountRequest("a ministry admin exists already")
    try:
        await new_account(
            ctx,
            username=name,
            display_name=validate_display_name(display_name),
            role=Role.MINISTRY_ADMIN,
            units=(),
            password=password,
            created_by="cli",
        )
    except AlreadyExists as error:
        raise InvalidAccountRequest(f"account '{name}' exists already") from error
    secret = await set_pending_secret(ctx, name)
    await ctx.audit(
        AuditAction.ACCOUNT_CREATED,
        Outcome.SUCCESS,
        actor="cli",
        target=subject_of(name),
        details={"role": Role.MINISTRY_ADMIN.value},
    )
    account = await ctx.accounts.get(name)
    if account is None:  # pragma: no cover - just created
        raise NotFound(name)
    return account, enrolment_view(ctx, name, secret)


async def get_account(ctx: IdentityContext, *, access_token: str, username: str) -> Account:
    actor = await authenticate(ctx, access_token)
    account = await ctx.accounts.get(normalise_username(username))
    if account is None or not may_view(actor, account):
        raise NotFound(username)
    return account


async def list_accounts(ctx: IdentityContext, *, access_token: str) -> list[Account]:
    actor = await authenticate(ctx, access_token)
    return [account for account in await ctx.accounts.list() if may_view(actor, account)]


async def change_account(
    ctx: IdentityContext,
    *,
    access_token: str,
    client_address: str,
    username: str,
    change: Callable[[Actor, Account], Account],
    action: AuditAction,
    details: Callable[[Account, Account], dict[str, str]],
) -> Account:
    """Shared path of role, status and authenticator changes: authority, step-up, CAS, epoch, audit."""
    client_address = client_address_of(client_address)
    actor = await authenticate(ctx, access_token)
    name = normalise_username(username)

    async def attempt() -> tuple[Account, Account]:
        found = await ctx.accounts.get_for_update(name)
        if found is None or not may_view(actor, found[0]):
            raise NotFound(username)
        current, revision = found
        try:
            ensure_may_manage(actor, current)
            updated = change(actor, current)
        except PermissionDenied as error:
            await deny(ctx, actor, client_address, str(error), target=current.subject)
        require_step_up(ctx, actor)
        updated = replace(updated, epoch=current.epoch + 1, updated_at=iso_time(ctx.clock()))
        await ctx.accounts.update(updated, revision=revision)
        return current, updated

    before, after = await with_retries(attempt)
    await ctx.audit(
        action,
        Outcome.SUCCESS,
        actor=actor.subject,
        client_address=client_address,
        target=after.subject,
        unit=",".join(after.units),
        details=details(before, after),
    )
    return after


async def set_account_role(
    ctx: IdentityContext,
    *,
    access_token: str,
    client_address: str,
    username: str,
    role: str,
    units: tuple[str, ...],
) -> Account:
    """Change an account's role and units (step-up). Its sessions end."""
    parsed_role, bound = validate_role_binding(role, units)
    await ensure_units_exist(ctx, bound)

    def change(actor: Actor, account: Account) -> Account:
        if not may_grant(actor, parsed_role, bound):
            raise PermissionDenied("role_outside_authority")
        return replace(account, role=parsed_role, units=bound)

    return await change_account(
        ctx,
        access_token=access_token,
        client_address=client_address,
        username=username,
        change=change,
        action=AuditAction.ACCOUNT_ROLE_CHANGED,
        details=lambda before, after: {
            "old_role": before.role.value,
            "new_role": after.role.value,
            "old_units": ",".join(before.units),
            "new_units": ",".join(after.units),
        },
    )


async def set_account_disabled(
    ctx: IdentityContext, *, access_token: str, client_address: str, username: str, disabled: bool
) -> Account:
    """Disable (sessions end at once) or re-enable an account (step-up)."""
    return await change_account(
        ctx,
        access_token=access_token,
        client_address=client_address,
        username=username,
        change=lambda _actor, account: replace(account, disabled=disabled),
        action=AuditAction.ACCOUNT_DISABLED if disabled else AuditAction.ACCOUNT_ENABLED,
        details=lambda _before, _after: {},
    )


async def reset_account_otp(
    ctx: IdentityContext, *, access_token: str, client_address: str, username: str
) -> Account:
    """Forget an account's authenticator and recovery codes (lost phone); it enrols again."""
    return await change_account(
        ctx,
        access_token=access_token,
        client_address=client_address,
        username=username,
        change=lambda _actor, account: replace(
            account,
            otp_secret_sealed="",
            otp_pending_sealed="",
            otp_enrolled_at="",
            recovery_code_hashes=(),
        ),
        action=AuditAction.ACCOUNT_OTP_RESET,
        details=lambda _before, _after: {},
    )
