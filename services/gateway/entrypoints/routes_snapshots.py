"""Snapshots through the gateway: take, list, verify and restore (ops' SnapshotService).

- `POST /v1/snapshots` {"unit"} or {"all_units": true}: admins of that unit, or ministry admins;
- `GET /v1/snapshots[?unit=]`: the snapshots a credential may see (a unit's admin sees only its unit's
  part of each snapshot, never another unit's);
- `POST /v1/snapshots/{snapshot_id}/verify`: sizes and checksums, nothing restored;
- `POST /v1/snapshots/{snapshot_id}/restore`: ministry admins logged in with password + OTP, with
  an OTP entered within the step-up window (`POST /v1/auth/step-up`); API keys are refused. Ops
  checks the forwarded access token again, and audits the restore. `up_to_sequence` / `up_to_time`
  make it a point-in-time restore; `…/restore/preview` lists the events it would skip;
- `DELETE /v1/snapshots/{snapshot_id}`: the same people and checks as a restore; audited.

Wiring: `app.include_router(routes_snapshots.build_router(context))` (this module follows the
`build_router(RouteContext)` convention of the other route modules).
"""

from collections.abc import Awaitable, Iterable
from datetime import UTC
from typing import Annotated, TypeVar

import grpc
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from services.gateway.adapters.access_tokens import (
    DEFAULT_STEP_UP_MAX_AGE_SECONDS,
    require_fresh_otp,
    step_up_problem,
)
from services.gateway.adapters.backends import backend_problem
from services.gateway.domain.authorization import Principal, Scope
from services.gateway.domain.problems import ApiProblem, ProblemKind
from services.gateway.entrypoints.routing import PageCursor, RouteContext, paginate, problem_responses
from services.gateway.entrypoints.schemas.snapshots import (
    RestoreIn,
    RestoreOut,
    RestorePhaseOut,
    RestorePreviewOut,
    SkippedEventOut,
    SnapshotList,
    SnapshotOut,
    SnapshotPartOut,
    SnapshotScopeIn,
    UnitRestoreOut,
    UnitRestorePreviewOut,
    UnitSnapshotOut,
    VerificationOut,
)
from trolyao.messaging import UNIT_ID_PATTERN
from trolyao.v1 import ops_pb2, snapshots_pb2, snapshots_pb2_grpc

TAG_SNAPSHOTS = "bản chụp và khôi phục"
PROBLEM_CODE_METADATA = "problem-code"
SNAPSHOT_ID_PATTERN = r"^[0-9]{8}T[0-9]{6}Z-[a-z0-9-]{1,80}$"
MAX_LIST = 500
# Taking or restoring a large unit takes longer than an ordinary call.
SNAPSHOT_RPC_TIMEOUT_SECONDS = 1_800.0

SNAPSHOT_REFUSED = ProblemKind("snapshot_refused", 409, "Bản chụp không dùng được để khôi phục.")
SNAPSHOT_NOT_FOUND = ProblemKind("snapshot_not_found", 404, "Không tìm thấy bản chụp.")
RESTORE_IN_PROGRESS = ProblemKind("restore_in_progress", 409, "Đơn vị đang được khôi phục.")

Reply = TypeVar("Reply")

SNAPSHOT_PATH = Path(
    pattern=SNAPSHOT_ID_PATTERN,
    description="Mã bản chụp, ví dụ `20260101T120000Z-all-1a2b3c`.",
    examples=["20260101T120000Z-all-1a2b3c"],
)


def _snapshot_out(info: snapshots_pb2.SnapshotInfo) -> SnapshotOut:
    return SnapshotOut(
        snapshot_id=info.snapshot_id,
        scope=info.scope,
        created_at=info.created_at,
        embedding_model=info.embedding_model,
        schema_version=info.schema_version,
        stream_sequence=info.stream_sequence,
        size_bytes=info.size_bytes,
        trigger=info.trigger,
        storage=info.storage,
        seconds=info.seconds,
        units=[
            UnitSnapshotOut(
                unit=u.unit,
                stream_sequence=u.stream_sequence,
                replay_from_sequence=u.replay_from_sequence,
                documents=u.documents,
                chunks=u.chunks,
                originals=u.originals,
                index_format=u.index_format,
            )
            for u in info.units
        ],
        parts=[
            SnapshotPartOut(name=p.name, kind=p.kind, unit=p.unit, size=p.size, sha256=p.sha256)
            for p in info.parts
        ],
    )


def _phases(phases: Iterable[snapshots_pb2.RestorePhase]) -> list[RestorePhaseOut]:
    return [RestorePhaseOut(name=p.name, seconds=p.seconds) for p in phases]


def _restore_out(report: snapshots_pb2.RestoreReport) -> RestoreOut:
    return RestoreOut(
        snapshot_id=report.snapshot_id,
        units=[
            UnitRestoreOut(
                unit=u.unit,
                documents=u.documents,
                chunks=u.chunks,
                replay_from_sequence=u.replay_from_sequence,
                replay_to_sequence=u.replay_to_sequence,
                replayed_events=u.replayed_events,
                replay_complete=u.replay_complete,
                replay_note=u.replay_note,
                missing_originals=list(u.missing_originals),
                restored_key_values=u.restored_key_values,
                phases=_phases(u.phases),
                skipped_events=u.skipped_events,
            )
            for u in report.units
        ],
        restored_buckets=list(report.restored_buckets),
        phases=_phases(report.phases),
        seconds=report.seconds,
    )


def _problem_code(error: grpc.aio.AioRpcError) -> str:
    for key, value in error.trailing_metadata() or ():
        if key == PROBLEM_CODE_METADATA:
            return str(value)
    return ""


async def _call_snapshots(call: Awaitable[Reply]) -> Reply:
    """Await a SnapshotService call; its refusals become problems with ops' Vietnamese reason."""
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        code = _problem_code(error)
        if code == "step_up_required":
            raise step_up_problem() from error
        if code == "snapshot_not_found":
            raise ApiProblem(SNAPSHOT_NOT_FOUND, error.details() or SNAPSHOT_NOT_FOUND.title) from error
        if code == "restore_in_progress":
            raise ApiProblem(RESTORE_IN_PROGRESS, error.details() or RESTORE_IN_PROGRESS.title) from error
        if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
            raise ApiProblem(SNAPSHOT_REFUSED, error.details() or SNAPSHOT_REFUSED.title) from error
        raise backend_problem("ops", error) from error


def _stub(ctx: RouteContext) -> snapshots_pb2_grpc.SnapshotServiceStub:
    stub = getattr(ctx.gateway.backends, "snapshots", None)
    if stub is None:
        raise RuntimeError("Backends.snapshots (SnapshotServiceStub on the ops channel) is not wired")
    return stub  # type: ignore[no-any-return]


def _caller(request: Request) -> ops_pb2.Caller:
    return ops_pb2.Caller(
        access_token=_bearer(request), client_address=request.client.host if request.client else ""
    )


def _restore_request(
    request: Request, snapshot_id: str, body: RestoreIn
) -> snapshots_pb2.RestoreSnapshotRequest:
    up_to_time = ""
    if body.up_to_time is not None:
        moment = body.up_to_time if body.up_to_time.tzinfo else body.up_to_time.replace(tzinfo=UTC)
        up_to_time = moment.isoformat()
    return snapshots_pb2.RestoreSnapshotRequest(
        snapshot_id=snapshot_id,
        unit=body.unit or "",
        all_units=body.all_units,
        caller=_caller(request),
        up_to_sequence=body.up_to_sequence or 0,
        up_to_time=up_to_time,
    )


async def take_snapshot_through_ops(
    ctx: RouteContext, *, unit: str, all_units: bool, actor: str, client_address: str
) -> snapshots_pb2.SnapshotInfo:
    """Ops' TakeSnapshot (audited there); its refusals become problems."""
    reply: snapshots_pb2.SnapshotInfo = await _call_snapshots(
        _stub(ctx).TakeSnapshot(
            snapshots_pb2.TakeSnapshotRequest(
                unit=unit, all_units=all_units, actor=actor, client_address=client_address
            ),
            timeout=SNAPSHOT_RPC_TIMEOUT_SECONDS,
        )
    )
    return reply


def snapshot_location(snapshot_id: str, unit: str | None) -> str:
    """Where a snapshot is read (`GET /v1/snapshots/{id}`, with `?unit=` for a unit's admin)."""
    return f"/v1/snapshots/{snapshot_id}" + (f"?unit={unit}" if unit else "")


def _bearer(request: Request) -> str:
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def build_router(
    ctx: RouteContext, *, step_up_max_age_seconds: int = DEFAULT_STEP_UP_MAX_AGE_SECONDS
) -> APIRouter:
    """Routes under /v1/snapshots."""
    router = APIRouter()
    CurrentPrincipal = Annotated[Principal, Depends(ctx.principal)]
    require = ctx.require

    async def known_snapshots(unit: str | None) -> list[snapshots_pb2.SnapshotInfo]:
        """The newest MAX_LIST snapshots (only those holding `unit`, and only its part, when given)."""
        reply: snapshots_pb2.ListSnapshotsResponse = await _call_snapshots(
            _stub(ctx).ListSnapshots(
                snapshots_pb2.ListSnapshotsRequest(unit=unit or "", limit=MAX_LIST),
                timeout=ctx.gateway.backends.timeout,
            )
        )
        return list(reply.snapshots)

    @router.post(
        "/v1/snapshots",
        response_model=SnapshotOut,
        status_code=201,
        tags=[TAG_SNAPSHOTS],
        summary="Chụp dữ liệu (một đơn vị hoặc tất cả)",
        responses=problem_responses(401, 403, 422, 429, 503),
    )
    async def take_snapshot(
        request: Request, principal: CurrentPrincipal, body: SnapshotScopeIn, response: Response
    ) -> SnapshotOut:
        """Chụp chỉ mục, sổ văn bản, trạng thái văn bản, câu hỏi thường gặp và danh mục bản gốc của
        một đơn vị (`{"unit": "cuc-bao-chi"}`, quản trị đơn vị đó) hoặc của tất cả đơn vị cùng các kho
        dùng chung (`{"all_units": true}`, quản trị cấp Bộ). Mỗi phần có SHA-256 trong tệp kê khai."""
        require(principal, body.unit, Scope.ADMIN)
        reply = await take_snapshot_through_ops(
            ctx,
            unit=body.unit or "",
            all_units=body.all_units,
            actor=principal.subject,
            client_address=request.client.host if request.client else "",
        )
        response.headers["Location"] = snapshot_location(reply.snapshot_id, body.unit)
        return _snapshot_out(reply)

    @router.get(
        "/v1/snapshots",
        response_model=SnapshotList,
        tags=[TAG_SNAPSHOTS],
        summary="Danh sách bản chụp",
        responses=problem_responses(401, 403, 422, 429, 503),
    )
    async def list_snapshots(
        principal: CurrentPrincipal,
        unit: Annotated[str | None, Query(pattern=UNIT_ID_PATTERN.pattern)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 100,
        cursor: PageCursor = None,
    ) -> SnapshotList:
        """Các bản chụp, mới nhất trước. Với `?unit=`: chỉ những bản chụp có đơn vị đó, và chỉ phần
        của đơn vị đó (quản trị đơn vị); không có `unit`: tất cả (quản trị cấp Bộ)."""
        require(principal, unit, Scope.ADMIN)
        page = paginate(
            await known_snapshots(unit),
            key=lambda info: (info.snapshot_id,),
            limit=limit,
            cursor=cursor,
            descending=True,
        )
        return SnapshotList(
            snapshots=[_snapshot_out(info) for info in page.items], next_cursor=page.next_cursor
        )

    @router.get(
        "/v1/snapshots/{snapshot_id}",
        response_model=SnapshotOut,
        tags=[TAG_SNAPSHOTS],
        summary="Xem một bản chụp",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def get_snapshot(
        principal: CurrentPrincipal,
        snapshot_id: Annotated[str, SNAPSHOT_PATH],
        unit: Annotated[str | None, Query(pattern=UNIT_ID_PATTERN.pattern)] = None,
    ) -> SnapshotOut:
        """Một bản chụp theo mã (đường dẫn mà `POST /v1/snapshots` trả về trong `Location`). Với
        `?unit=`: chỉ phần của đơn vị đó (quản trị đơn vị); không có `unit`: cả bản chụp (quản trị cấp Bộ)."""
        require(principal, unit, Scope.ADMIN)
        for info in await known_snapshots(unit):
            if info.snapshot_id == snapshot_id:
                return _snapshot_out(info)
        raise ApiProblem(SNAPSHOT_NOT_FOUND)

    @router.post(
        "/v1/snapshots/{snapshot_id}/verify",
        response_model=VerificationOut,
        tags=[TAG_SNAPSHOTS],
        summary="Kiểm tra bản chụp",
        responses=problem_responses(401, 403, 422, 429, 503),
    )
    async def verify_snapshot(
        principal: CurrentPrincipal,
        snapshot_id: Annotated[str, SNAPSHOT_PATH],
        body: SnapshotScopeIn,
    ) -> VerificationOut:
        """Kiểm tra bản chụp có đủ các phần và đúng kích thước, tổng kiểm SHA-256 (không khôi phục gì),
        ví dụ `{"ok": false, "code": "snapshot_corrupted", "reason": "Phần ... không khớp tổng kiểm"}`."""
        require(principal, body.unit, Scope.ADMIN)
        reply: snapshots_pb2.VerifySnapshotResponse = await _call_snapshots(
            _stub(ctx).VerifySnapshot(
                snapshots_pb2.VerifySnapshotRequest(snapshot_id=snapshot_id, unit=body.unit or ""),
                timeout=SNAPSHOT_RPC_TIMEOUT_SECONDS,
            )
        )
        return VerificationOut(ok=reply.ok, code=reply.code, reason=reply.reason)

    @router.post(
        "/v1/snapshots/{snapshot_id}/restore",
        response_model=RestoreOut,
        tags=[TAG_SNAPSHOTS],
        summary="Khôi phục từ bản chụp (cần OTP vừa nhập)",
        responses=problem_responses(401, 403, 404, 409, 422, 429, 503),
    )
    async def restore_snapshot(
        request: Request,
        principal: CurrentPrincipal,
        snapshot_id: Annotated[str, SNAPSHOT_PATH],
        body: RestoreIn,
    ) -> RestoreOut:
        """Khôi phục một đơn vị (`{"unit": ...}`) hoặc tất cả (`{"all_units": true}`): kiểm tra toàn bộ
        tổng kiểm trước (bản chụp hỏng hoặc thiếu bị từ chối, dữ liệu đang chạy giữ nguyên), nạp chỉ mục,
        rồi phát lại các sự kiện văn bản sau thời điểm chụp để không mất thay đổi nào đã được xác nhận.
        Chỉ quản trị cấp Bộ, đăng nhập bằng mật khẩu + OTP và vừa xác nhận OTP (`POST /v1/auth/step-up`);
        các đơn vị khác vẫn trả lời bình thường trong lúc khôi phục. Mọi lần khôi phục được ghi nhật ký.

        Khôi phục tới một thời điểm: `{"unit": "cuc-bao-chi", "up_to_time": "2026-12-04T08:30:00+07:00"}`
        (hoặc `up_to_sequence`) chỉ phát lại các sự kiện trước mốc đó, nên gỡ được một đợt xóa hàng loạt
        ngoài ý muốn; trạng thái văn bản và câu hỏi thường gặp của đơn vị trở về như bản chụp rồi được phát
        lại tới mốc. Xem trước các sự kiện sẽ bị bỏ qua bằng `POST …/restore/preview`."""
        require(principal, None, Scope.ADMIN)
        require_fresh_otp(principal, max_age_seconds=step_up_max_age_seconds, now=ctx.clock())
        reply: snapshots_pb2.RestoreReport = await _call_snapshots(
            _stub(ctx).RestoreSnapshot(
                _restore_request(request, snapshot_id, body), timeout=SNAPSHOT_RPC_TIMEOUT_SECONDS
            )
        )
        return _restore_out(reply)

    @router.post(
        "/v1/snapshots/{snapshot_id}/restore/preview",
        response_model=RestorePreviewOut,
        tags=[TAG_SNAPSHOTS],
        summary="Xem trước khôi phục tới một thời điểm",
        responses=problem_responses(401, 403, 404, 409, 422, 429, 503),
    )
    async def preview_restore(
        request: Request,
        principal: CurrentPrincipal,
        snapshot_id: Annotated[str, SNAPSHOT_PATH],
        body: RestoreIn,
    ) -> RestorePreviewOut:
        """Những sự kiện văn bản sẽ được phát lại và những sự kiện sẽ bị bỏ qua (sau `up_to_sequence` /
        `up_to_time`) nếu khôi phục như yêu cầu; không thay đổi gì. Cùng điều kiện như khôi phục."""
        require(principal, None, Scope.ADMIN)
        require_fresh_otp(principal, max_age_seconds=step_up_max_age_seconds, now=ctx.clock())
        reply: snapshots_pb2.RestorePreview = await _call_snapshots(
            _stub(ctx).PreviewRestore(
                _restore_request(request, snapshot_id, body), timeout=ctx.gateway.backends.timeout
            )
        )
        return RestorePreviewOut(
            snapshot_id=reply.snapshot_id,
            units=[
                UnitRestorePreviewOut(
                    unit=u.unit,
                    replay_from_sequence=u.replay_from_sequence,
                    replay_to_sequence=u.replay_to_sequence,
                    skipped_events=u.skipped_events,
                    skipped=[
                        SkippedEventOut(
                            sequence=e.sequence,
                            stored_at=e.stored_at,
                            kind=e.kind,
                            document_id=e.document_id,
                            version=e.version,
                            source=e.source,
                        )
                        for e in u.skipped
                    ],
                )
                for u in reply.units
            ],
        )

    @router.delete(
        "/v1/snapshots/{snapshot_id}",
        status_code=204,
        tags=[TAG_SNAPSHOTS],
        summary="Xóa bản chụp (cần OTP vừa nhập)",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def delete_snapshot(
        request: Request, principal: CurrentPrincipal, snapshot_id: Annotated[str, SNAPSHOT_PATH]
    ) -> Response:
        """Xóa hẳn một bản chụp (chỉ quản trị cấp Bộ, vừa xác nhận OTP); được ghi nhật ký kiểm toán
        (`snapshot.deleted`), ví dụ `DELETE /v1/snapshots/20260101T120000Z-all-1a2b3c`."""
        require(principal, None, Scope.ADMIN)
        require_fresh_otp(principal, max_age_seconds=step_up_max_age_seconds, now=ctx.clock())
        await _call_snapshots(
            _stub(ctx).DeleteSnapshot(
                snapshots_pb2.DeleteSnapshotRequest(snapshot_id=snapshot_id, caller=_caller(request)),
                timeout=ctx.gateway.backends.timeout,
            )
        )
        return Response(status_code=204)

    return router
