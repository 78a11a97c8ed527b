"""The audit trail over HTTP: query it page by page, or export it as JSON lines (`/v1/audit`;
ministry admins' access tokens only, see `routing_accounts`)."""

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Literal

import grpc
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from services.gateway.adapters.access_tokens import call_ops_security
from services.gateway.domain.pagination import encode_cursor
from services.gateway.domain.problems import INVALID_REQUEST, ApiProblem
from services.gateway.entrypoints.routing import INVALID_CURSOR_DETAIL, PageCursor, cursor_position
from services.gateway.entrypoints.routing_accounts import (
    NO_STORE,
    AccountRouteContext,
    AuthenticatedUser,
    no_store,
)
from services.gateway.entrypoints.schemas.audit import AuditEventOut, AuditPageOut
from trolyao.logs import get_logger
from trolyao.v1 import ops_pb2

log = get_logger("gateway")

MAX_AUDIT_PAGE = 1000
DEFAULT_AUDIT_PAGE = 100
EXPORT_TIMEOUT_SECONDS = 300.0
NDJSON = "application/x-ndjson"
NEWEST = "newest"


def _order_mark(order: str) -> tuple[str, ...]:
    """What a cursor carries after its sequence: nothing oldest first (the cursors made before the
    order existed stay valid), the order's name newest first."""
    return (NEWEST,) if order == NEWEST else ()


def _audit_event_out(event: ops_pb2.AuditEvent) -> AuditEventOut:
    return AuditEventOut(
        sequence=event.sequence,
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        actor=event.actor,
        action=event.action,
        outcome=event.outcome,
        client_address=event.client_address,
        target=event.target,
        unit=event.unit,
        reason=event.reason,
        details=dict(event.details),
    )


def build_router(ctx: AccountRouteContext) -> APIRouter:
    """Routes under `/v1/audit`."""
    router = APIRouter(dependencies=[Depends(no_store)])

    def audit_sequence_of(cursor: str, order: str) -> int:
        """The audit sequence a cursor made by this route for `order` resumes after (422 otherwise,
        also for a cursor made for the other order)."""
        position = cursor_position(cursor)
        sequence = position[0] if position else None
        if not isinstance(sequence, int) or sequence < 0 or position[1:] != _order_mark(order):
            raise ApiProblem(INVALID_REQUEST, INVALID_CURSOR_DETAIL)
        return sequence

    backends, timeout = ctx.backends, ctx.timeout
    CurrentUser = Annotated[AuthenticatedUser, Depends(ctx.current_user)]

    def audit_request(
        user: AuthenticatedUser,
        *,
        since: datetime | None,
        until: datetime | None,
        actor: str,
        action: str,
        unit: str,
        outcome: str,
        limit: int = 0,
        after: int = 0,
        newest_first: bool = False,
    ) -> ops_pb2.QueryAuditRequest:
        def iso(moment: datetime | None) -> str:
            if moment is None:
                return ""
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()

        return ops_pb2.QueryAuditRequest(
            caller=user.caller(),
            since=iso(since),
            until=iso(until),
            actor=actor,
            action=action,
            unit=unit,
            outcome=outcome,
            limit=limit,
            after_sequence=after,
            newest_first=newest_first,
        )

    @router.get(
        "/v1/audit", response_model=AuditPageOut, tags=["nhật ký"], summary="Tra cứu nhật ký kiểm toán"
    )
    async def query_audit(
        user: CurrentUser,
        since: Annotated[datetime | None, Query(description="Từ thời điểm (ISO 8601).")] = None,
        until: Annotated[datetime | None, Query(description="Trước thời điểm (ISO 8601).")] = None,
        actor: Annotated[str, Query(max_length=200, examples=["user:nguyen.van.a"])] = "",
        action: Annotated[str, Query(max_length=100, examples=["login"])] = "",
        unit: Annotated[str, Query(max_length=63)] = "",
        outcome: Annotated[str, Query(pattern="^(|success|failure|denied)$")] = "",
        limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_PAGE)] = DEFAULT_AUDIT_PAGE,
        after: Annotated[int, Query(ge=0, description="`next_after` của trang trước.")] = 0,
        cursor: PageCursor = None,
        order: Annotated[
            Literal["oldest", "newest"],
            Query(
                description=(
                    "Thứ tự: `oldest` (mặc định) — cũ trước mới sau; `newest` — mới nhất trước. "
                    "Con trỏ (`next_cursor`, `next_after`) đi tiếp theo đúng thứ tự đã chọn."
                )
            ),
        ] = "oldest",
    ) -> AuditPageOut:
        """Ai đã làm gì, khi nào, từ đâu, kết quả ra sao (đăng nhập, khóa tài khoản, đổi vai trò, văn bản,
        sao lưu và khôi phục), mặc định cũ trước mới sau (`order=newest`: mới nhất trước). Chỉ quản trị
        cấp Bộ."""
        ctx.require_ministry_admin(user)
        if cursor:
            after = audit_sequence_of(cursor, order)
        request = audit_request(
            user,
            since=since,
            until=until,
            actor=actor,
            action=action,
            unit=unit,
            outcome=outcome,
            limit=limit,
            after=after,
            newest_first=order == NEWEST,
        )
        reply = await call_ops_security(backends.ops.QueryAudit(request, timeout=timeout))
        position: tuple[int | str, ...] = (int(reply.next_after_sequence), *_order_mark(order))
        return AuditPageOut(
            events=[_audit_event_out(event) for event in reply.events],
            next_after=reply.next_after_sequence,
            more=reply.more,
            next_cursor=encode_cursor(position) if reply.more else None,
        )

    @router.get(
        "/v1/audit/export",
        tags=["nhật ký"],
        summary="Xuất nhật ký kiểm toán (JSON lines)",
        response_class=StreamingResponse,
        responses={200: {"content": {NDJSON: {}}}},
    )
    async def export_audit(
        user: CurrentUser,
        since: Annotated[datetime | None, Query()] = None,
        until: Annotated[datetime | None, Query()] = None,
        actor: Annotated[str, Query(max_length=200)] = "",
        action: Annotated[str, Query(max_length=100)] = "",
        unit: Annotated[str, Query(max_length=63)] = "",
        outcome: Annotated[str, Query(pattern="^(|success|failure|denied)$")] = "",
    ) -> StreamingResponse:
        """Mọi sự kiện khớp điều kiện, mỗi dòng một đối tượng JSON (`application/x-ndjson`). Việc xuất
        cũng được ghi vào nhật ký. Chỉ quản trị cấp Bộ."""
        ctx.require_ministry_admin(user)
        request = audit_request(
            user, since=since, until=until, actor=actor, action=action, unit=unit, outcome=outcome
        )
        call = backends.ops.ExportAudit(request, timeout=EXPORT_TIMEOUT_SECONDS)
        first = await call_ops_security(call.read())

        async def lines() -> AsyncIterator[bytes]:
            message = first
            try:
                while message is not grpc.aio.EOF:
                    event = _audit_event_out(message).model_dump()
                    yield (json.dumps(event, ensure_ascii=False) + "\n").encode()
                    message = await call.read()
            except grpc.aio.AioRpcError as error:
                log.error("audit_export_interrupted", code=error.code().name)
            finally:
                call.cancel()

        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return StreamingResponse(
            lines(),
            media_type=NDJSON,
            headers={
                "Content-Disposition": f'attachment; filename="audit-{stamp}.jsonl"',
                "Cache-Control": NO_STORE,
            },
        )

    return router


__all__ = ["build_router"]
