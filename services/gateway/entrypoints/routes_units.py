"""Units: list, read, create or rename, delete, and each unit's answer threshold."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from services.gateway.adapters.access_tokens import require_fresh_otp
from services.gateway.domain.authorization import Principal, Scope
from services.gateway.domain.model import UnitInfo
from services.gateway.entrypoints.routes_snapshots import take_snapshot_through_ops
from services.gateway.entrypoints.routing import (
    UNIT_PATH,
    RouteContext,
    client_address,
    problem_responses,
)
from services.gateway.entrypoints.schemas.units import (
    AnswerThresholdIn,
    UnitDeletedOut,
    UnitIn,
    UnitList,
    UnitOut,
)

TAG_UNITS = "đơn vị"


def _unit_out(unit: UnitInfo) -> UnitOut:
    return UnitOut(
        unit_id=unit.unit_id,
        name=unit.name,
        created_at=unit.created_at,
        updated_at=unit.updated_at,
        min_confidence=unit.min_confidence,
    )


def build_router(ctx: RouteContext) -> APIRouter:
    """Routes under /v1/units."""
    router = APIRouter()
    CurrentPrincipal = Annotated[Principal, Depends(ctx.principal)]
    gateway, require = ctx.gateway, ctx.require

    @router.get(
        "/v1/units",
        response_model=UnitList,
        tags=[TAG_UNITS],
        summary="Danh sách đơn vị",
        responses=problem_responses(401, 403, 429, 503),
    )
    async def list_units(principal: CurrentPrincipal) -> UnitList:
        """Các đơn vị mà thông tin xác thực được phép xem (khóa cấp Bộ thấy cả 34 đơn vị).

        Ví dụ: `GET /v1/units` → `{"units": [{"unit_id": "cuc-bao-chi", "name": "Cục Báo chí", ...}]}`.
        """
        require(
            principal, None if principal.all_units else next(iter(sorted(principal.units)), ""), Scope.READ
        )
        units = await gateway.backends.list_units()
        return UnitList(
            units=[_unit_out(u) for u in units if principal.all_units or u.unit_id in principal.units]
        )

    @router.get(
        "/v1/units/{unit}",
        response_model=UnitOut,
        tags=[TAG_UNITS],
        summary="Xem một đơn vị",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def get_unit(principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH]) -> UnitOut:
        """Tên và thời điểm tạo/cập nhật của một đơn vị, ví dụ `GET /v1/units/cuc-bao-chi`."""
        require(principal, unit, Scope.READ)
        return _unit_out(await gateway.backends.get_unit(unit))

    @router.put(
        "/v1/units/{unit}",
        response_model=UnitOut,
        tags=[TAG_UNITS],
        summary="Tạo hoặc đổi tên đơn vị",
        responses={
            200: {"description": "Đã đổi tên đơn vị (hoặc tên không đổi)."},
            201: {
                "description": "Đã tạo đơn vị mới; `Location` trỏ tới đơn vị.",
                "model": UnitOut,
            },
            **problem_responses(401, 403, 413, 422, 429, 503),
        },
    )
    async def put_unit(
        principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH], body: UnitIn, response: Response
    ) -> UnitOut:
        """Tạo đơn vị mới (201) hoặc đổi tên đơn vị (200) (chỉ quản trị cấp Bộ), ví dụ
        `PUT /v1/units/cuc-bao-chi` với `{"name": "Cục Báo chí"}`. Đơn vị là dữ liệu: Bộ sắp xếp lại
        tổ chức thì chỉ cần gọi lại API này."""
        require(principal, None, Scope.ADMIN)
        info, created = await gateway.put_unit(unit, body.name)
        if created:
            response.status_code = 201
            response.headers["Location"] = f"/v1/units/{unit}"
        return _unit_out(info)

    @router.delete(
        "/v1/units/{unit}",
        response_model=UnitDeletedOut,
        tags=[TAG_UNITS],
        summary="Xóa đơn vị",
        responses={
            200: {"description": "Đơn vị đã bị xóa; kèm những gì đã gỡ bỏ và mã bản chụp lấy trước khi xóa."},
            **problem_responses(401, 403, 404, 422, 429, 503),
        },
    )
    async def delete_unit(
        principal: CurrentPrincipal,
        request: Request,
        unit: Annotated[str, UNIT_PATH],
        snapshot: Annotated[
            bool, Query(description="Chụp dữ liệu của đơn vị trước khi xóa (mặc định có).")
        ] = True,
    ) -> UnitDeletedOut:
        """Xóa hẳn một đơn vị (chỉ quản trị cấp Bộ; cán bộ cần vừa xác nhận OTP qua
        `POST /v1/auth/step-up`, khóa API cấp Bộ thì không): chỉ mục tìm kiếm, bản gốc, trạng thái văn
        bản, câu hỏi thường gặp, hội thoại, lịch sử câu hỏi và các khóa API chỉ gắn với đơn vị này.
        Đơn vị khác không bị ảnh hưởng. Trước khi xóa, hệ thống chụp dữ liệu của đơn vị (bỏ qua với
        `?snapshot=false`). Thao tác được ghi nhật ký kiểm toán (`unit.deleted`)."""
        require(principal, None, Scope.ADMIN)
        require_fresh_otp(principal, allow_api_keys=True, now=ctx.clock())
        await gateway.ensure_unit(unit)
        snapshot_id = ""
        if snapshot:
            taken = await take_snapshot_through_ops(
                ctx,
                unit=unit,
                all_units=False,
                actor=principal.subject,
                client_address=client_address(request),
            )
            snapshot_id = taken.snapshot_id
        removal = await gateway.remove_unit(
            principal, unit, snapshot_id=snapshot_id, client_address=client_address(request)
        )
        return UnitDeletedOut(
            unit_id=removal.unit,
            snapshot_id=removal.snapshot_id,
            documents=removal.documents,
            chunks=removal.chunks,
            originals=removal.originals,
            api_keys_deleted=removal.api_keys_deleted,
            api_keys_narrowed=removal.api_keys_narrowed,
        )

    @router.put(
        "/v1/units/{unit}/answer-threshold",
        response_model=UnitOut,
        tags=[TAG_UNITS],
        summary="Đặt ngưỡng tin cậy riêng của đơn vị",
        responses=problem_responses(401, 403, 404, 413, 422, 429, 503),
    )
    async def put_answer_threshold(
        principal: CurrentPrincipal,
        request: Request,
        unit: Annotated[str, UNIT_PATH],
        body: AnswerThresholdIn,
    ) -> UnitOut:
        """Đặt ngưỡng tin cậy mà dưới đó trợ lý của đơn vị từ chối trả lời (quản trị đơn vị hoặc cấp
        Bộ), ví dụ `PUT /v1/units/cuc-bao-chi/answer-threshold` với `{"min_confidence": 0.62}`;
        `{"min_confidence": null}` quay về ngưỡng mặc định. Ngưỡng đề xuất theo đánh giá của cán bộ có ở
        `GET /v1/units/{unit}/reports/calibration`. Thay đổi được ghi vào nhật ký kiểm toán
        (`unit.answer_threshold_changed`) và có hiệu lực trong vài giây."""
        require(principal, unit, Scope.ADMIN)
        info = await gateway.set_answer_threshold(
            principal, unit, body.min_confidence, client_address=client_address(request)
        )
        return _unit_out(info)

    return router


__all__ = ["build_router"]
