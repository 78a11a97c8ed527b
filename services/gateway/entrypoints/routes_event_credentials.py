"""Units' NATS event credentials (`/v1/units/{unit}/event-credentials`): issue, list and revoke, for
ministry admins. Ops does the work (the same use case as the admin CLI `trolyao event-credentials`)
and writes the audit records (`event_credential.issued` / `.revoked`)."""

from collections.abc import Awaitable
from typing import Annotated, TypeVar

import grpc
from fastapi import APIRouter, Depends, Path, Request, Response

from services.gateway.adapters.access_tokens import require_fresh_otp
from services.gateway.adapters.backends import backend_problem
from services.gateway.domain.authorization import Principal, Scope
from services.gateway.domain.pagination import DEFAULT_PAGE_SIZE
from services.gateway.domain.problems import (
    DEPENDENCY_UNAVAILABLE,
    EVENT_CREDENTIAL_NOT_FOUND,
    UNIT_NOT_FOUND,
    ApiProblem,
    ProblemKind,
)
from services.gateway.entrypoints.routing import (
    UNIT_PATH,
    PageCursor,
    PageLimit,
    RouteContext,
    client_address,
    paginate,
    problem_responses,
)
from services.gateway.entrypoints.schemas.event_credentials import (
    EventCredentialIssuedOut,
    EventCredentialList,
    EventCredentialOut,
)
from trolyao.messaging import inbox_prefix
from trolyao.v1 import ops_pb2

TAG_EVENT_CREDENTIALS = "thông tin xác thực sự kiện"
CREDENTIAL_PATH = Path(
    pattern=r"^[0-9a-f]{12}$", description="Mã thông tin xác thực sự kiện.", examples=["4e2f9a1b3c5d"]
)
NOT_ENABLED_DETAIL = (
    "Bản triển khai này chưa cho phép cấp thông tin xác thực sự kiện qua API; "
    "quản trị viên dùng lệnh `trolyao event-credentials` (xem README, mục Bảo mật)."
)

# Issuing waits for the reloaded grants to let ops make the unit's originals bucket.
ISSUE_TIMEOUT_SECONDS = 30.0

Reply = TypeVar("Reply")


async def _call_ops(call: Awaitable[Reply], *, not_found: ProblemKind) -> Reply:
    """An ops event-credential call; FAILED_PRECONDITION means this ops cannot rewrite NATS users."""
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
            raise ApiProblem(DEPENDENCY_UNAVAILABLE, NOT_ENABLED_DETAIL) from error
        raise backend_problem("ops", error, not_found=not_found) from error


def _credential_out(info: ops_pb2.EventCredentialInfo) -> EventCredentialOut:
    return EventCredentialOut(
        credential_id=info.credential_id,
        unit=info.unit,
        nats_user=info.user,
        originals_bucket=info.originals_bucket,
        issued_at=info.issued_at,
        issued_by=info.issued_by,
        revoked_at=info.revoked_at,
        active=info.active,
    )


def build_router(ctx: RouteContext) -> APIRouter:
    """Routes under /v1/units/{unit}/event-credentials."""
    router = APIRouter()
    CurrentPrincipal = Annotated[Principal, Depends(ctx.principal)]
    gateway, require = ctx.gateway, ctx.require

    def ops_timeout() -> float:
        return gateway.backends.timeout

    @router.post(
        "/v1/units/{unit}/event-credentials",
        response_model=EventCredentialIssuedOut,
        status_code=201,
        tags=[TAG_EVENT_CREDENTIALS],
        summary="Cấp thông tin xác thực sự kiện cho đơn vị",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def issue_event_credential(
        principal: CurrentPrincipal,
        request: Request,
        response: Response,
        unit: Annotated[str, UNIT_PATH],
    ) -> EventCredentialIssuedOut:
        """Cấp cho hệ thống của đơn vị một người dùng NATS chỉ được phát sự kiện lên `docs.<đơn vị>.>`
        và tải bản gốc vào kho riêng của đơn vị; không đọc được gì khác. Chỉ quản trị cấp Bộ (cán bộ
        cần vừa xác nhận OTP qua `POST /v1/auth/step-up`; khóa API cấp Bộ thì không). Mật khẩu chỉ
        hiển thị trong câu trả lời này, không lưu ở đâu và không đọc lại được. Máy chủ NATS nạp lại
        danh sách người dùng ngay; thao tác được ghi nhật ký kiểm toán (`event_credential.issued`),
        ví dụ `POST /v1/units/cuc-bao-chi/event-credentials`."""
        require(principal, None, Scope.ADMIN)
        require_fresh_otp(principal, allow_api_keys=True, now=ctx.clock())
        reply: ops_pb2.IssuedEventCredential = await _call_ops(
            gateway.backends.ops.IssueEventCredential(
                ops_pb2.IssueEventCredentialRequest(
                    unit=unit, actor=principal.subject, client_address=client_address(request)
                ),
                timeout=max(ops_timeout(), ISSUE_TIMEOUT_SECONDS),
            ),
            not_found=UNIT_NOT_FOUND,
        )
        credential = reply.credential
        response.headers["Location"] = f"/v1/units/{unit}/event-credentials/{credential.credential_id}"
        response.headers["Cache-Control"] = "no-store"
        return EventCredentialIssuedOut(
            **_credential_out(credential).model_dump(),
            password=reply.password,
            inbox_prefix=inbox_prefix(credential.user),
        )

    @router.get(
        "/v1/units/{unit}/event-credentials",
        response_model=EventCredentialList,
        tags=[TAG_EVENT_CREDENTIALS],
        summary="Danh sách thông tin xác thực sự kiện của đơn vị",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def list_event_credentials(
        principal: CurrentPrincipal,
        unit: Annotated[str, UNIT_PATH],
        limit: PageLimit = DEFAULT_PAGE_SIZE,
        cursor: PageCursor = None,
    ) -> EventCredentialList:
        """Các thông tin xác thực sự kiện của đơn vị, còn hiệu lực và đã thu hồi, theo thời điểm cấp;
        không bao giờ kèm mật khẩu. Chỉ quản trị cấp Bộ. Từng trang `limit` mục; `next_cursor` lấy
        trang sau, ví dụ `GET /v1/units/cuc-bao-chi/event-credentials?limit=20`."""
        require(principal, None, Scope.ADMIN)
        await gateway.ensure_unit(unit)
        reply: ops_pb2.ListEventCredentialsResponse = await _call_ops(
            gateway.backends.ops.ListEventCredentials(
                ops_pb2.ListEventCredentialsRequest(unit=unit), timeout=ops_timeout()
            ),
            not_found=UNIT_NOT_FOUND,
        )
        page = paginate(
            list(reply.credentials),
            key=lambda info: (info.issued_at, info.credential_id),
            limit=limit,
            cursor=cursor,
        )
        return EventCredentialList(
            credentials=[_credential_out(info) for info in page.items], next_cursor=page.next_cursor
        )

    @router.delete(
        "/v1/units/{unit}/event-credentials/{credential_id}",
        response_model=EventCredentialOut,
        tags=[TAG_EVENT_CREDENTIALS],
        summary="Thu hồi thông tin xác thực sự kiện",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def revoke_event_credential(
        principal: CurrentPrincipal,
        request: Request,
        unit: Annotated[str, UNIT_PATH],
        credential_id: Annotated[str, CREDENTIAL_PATH],
    ) -> EventCredentialOut:
        """Thu hồi: máy chủ NATS nạp lại danh sách người dùng và ngắt các kết nối đang dùng thông tin
        này trong vài giây; kết nối mới bị từ chối. Chỉ quản trị cấp Bộ (cán bộ cần vừa xác nhận OTP;
        khóa API cấp Bộ thì không); ghi nhật ký kiểm toán (`event_credential.revoked`). Thông tin của
        đơn vị khác: 404. Ví dụ `DELETE /v1/units/cuc-bao-chi/event-credentials/4e2f9a1b3c5d`."""
        require(principal, None, Scope.ADMIN)
        require_fresh_otp(principal, allow_api_keys=True, now=ctx.clock())
        reply: ops_pb2.EventCredentialInfo = await _call_ops(
            gateway.backends.ops.RevokeEventCredential(
                ops_pb2.RevokeEventCredentialRequest(
                    credential_id=credential_id,
                    unit=unit,
                    actor=principal.subject,
                    client_address=client_address(request),
                ),
                timeout=ops_timeout(),
            ),
            not_found=EVENT_CREDENTIAL_NOT_FOUND,
        )
        return _credential_out(reply)

    return router


__all__ = ["build_router"]
