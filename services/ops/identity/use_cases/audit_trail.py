"""The audit trail: events other services send, and queries and exports by ministry admins."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass

from services.ops.identity.domain.audit import (
    AuditAction,
    AuditEvent,
    AuditFilter,
    Outcome,
    new_audit_event,
    validate_external_event,
)
from services.ops.identity.use_cases.authentication import authorised_admin
from services.ops.identity.use_cases.context import IdentityContext, client_address_of

DEFAULT_AUDIT_PAGE = 100
MAX_AUDIT_PAGE = 1000
MAX_AUDIT_SCANNED_PER_PAGE = 20_000


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: list[AuditEvent]
    next_after_sequence: int
    more: bool


async def record_event(ctx: IdentityContext, event: AuditEvent) -> AuditEvent:
    """Append an event sent by another service (documents, snapshots, units)."""
    validate_external_event(event)
    stamped = new_audit_event(
        now=ctx.clock(),
        actor=event.actor,
        action=event.action,
        outcome=event.outcome,
        client_address=event.client_address,
        target=event.target,
        unit=event.unit,
        reason=event.reason,
        details=event.details,
    )
    return await ctx.audit_trail.append(stamped)


async def query_audit(
    ctx: IdentityContext,
    *,
    access_token: str,
    client_address: str,
    audit_filter: AuditFilter,
    limit: int,
    after_sequence: int,
    newest_first: bool = False,
) -> AuditPage:
    """One page of matching events, oldest first or newest first (ministry admins). The page ends at
    `next_after_sequence`, the last sequence it looked at: the next page resumes past it in the same
    order (later sequences oldest first, earlier ones newest first), so a walk sees each event once."""
    client_address = client_address_of(client_address)
    actor = await authorised_admin(ctx, access_token, client_address, step_up=False)
    page_size = min(limit or DEFAULT_AUDIT_PAGE, MAX_AUDIT_PAGE)
    events: list[AuditEvent] = []
    last_seen, scanned, more = after_sequence, 0, False
    if newest_first:
        scan = ctx.audit_trail.scan_backward(
            category=audit_filter.category, before_sequence=after_sequence, since=audit_filter.since
        )
    else:
        scan = ctx.audit_trail.scan(
            category=audit_filter.category, after_sequence=after_sequence, since=audit_filter.since
        )
    async with aclosing(scan) as stream:
        async for event in stream:
            if len(events) >= page_size or scanned >= MAX_AUDIT_SCANNED_PER_PAGE:
                more = True
                break
            scanned += 1
            last_seen = event.sequence
            if audit_filter.matches(event):
                events.append(event)
    await ctx.audit(
        AuditAction.AUDIT_QUERIED,
        Outcome.SUCCESS,
        actor=actor.subject,
        client_address=client_address,
        details={"returned": str(len(events))},
    )
    return AuditPage(events=events, next_after_sequence=last_seen, more=more)


async def export_audit(
    ctx: IdentityContext, *, access_token: str, client_address: str, audit_filter: AuditFilter
) -> AsyncGenerator[AuditEvent, None]:
    """Every matching event, oldest first (ministry admins). The export itself is audited first."""
    client_address = client_address_of(client_address)
    actor = await authorised_admin(ctx, access_token, client_address, step_up=False)
    await ctx.audit(
        AuditAction.AUDIT_EXPORTED, Outcome.SUCCESS, actor=actor.subject, client_address=client_address
    )
    return matching_events(ctx, audit_filter)


async def matching_events(
    ctx: IdentityContext, audit_filter: AuditFilter
) -> AsyncGenerator[AuditEvent, None]:
    async with aclosing(
        ctx.audit_trail.scan(category=audit_filter.category, since=audit_filter.since)
    ) as stream:
        async for event in stream:
            if audit_filter.matches(event):
                yield event
