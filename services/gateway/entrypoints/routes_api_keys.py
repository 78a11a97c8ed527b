"""API keys for portals and units' systems: issue one (ministry admins only)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from services.gateway.domain.authorization import Principal, Scope
from services.gateway.domain.problems import INVALID_REQUEST, ApiProblem
from services.gateway.entrypoints.change_audit import add_audit_details
from services.gateway.entrypoints.routing import RouteContext, problem_responses
from services.gateway.entrypoints.schemas.api_keys import ApiKeyIn, ApiKeyOut
from trolyao.messaging import UNIT_ID_PATTERN

TAG_KEYS = "khóa API"


def build_router(ctx: RouteContext) -> APIRouter:
    """Routes under /v1/api-keys."""
    router = APIRouter()
    CurrentPrincipal = Annotated[Principal, Depends(ctx.principal)]
    gateway, require = ctx.gateway, ctx.require

    @router.post(
        "/v1/api-keys",
        response_model=ApiKeyOut,
        status_code=201,
        tags=[TAG_KEYS],
        summary="Cấp khóa API",
        responses=problem_responses(401, 403, 404, 413, 422, 429, 503),
    )
    async def create_api_key(principal: CurrentPrincipal, request: Request, body: ApiKeyIn) -> ApiKeyOut:
        """Cấp khóa API cho cổng thông tin (chỉ quản trị cấp Bộ): gắn với một hoặc nhiều đơn vị
        (hoặc mọi đơn vị) và quyền `read` / `write` / `admin`. Khóa bí mật chỉ hiển thị một lần,
        ví dụ `{"name": "Cổng thông tin Cục Báo chí", "units": ["cuc-bao-chi"], "scopes": ["read"]}`."""
        require(principal, None, Scope.ADMIN)
        units = sorted(set(body.units))
        if any(not UNIT_ID_PATTERN.match(unit) for unit in units) or (not units and not body.all_units):
            raise ApiProblem(
                INVALID_REQUEST,
                "Khóa cần ít nhất một mã đơn vị hợp lệ trong `units`, hoặc `all_units: true`.",
            )
        issued = await gateway.backends.create_api_key(
            name=body.name, units=units, all_units=body.all_units, scopes=sorted(set(body.scopes))
        )
        add_audit_details(request.scope, key_id=issued.key_id, units=",".join(units) or "*")
        return ApiKeyOut(
            key_id=issued.key_id,
            api_key=issued.api_key,
            name=issued.name,
            units=list(issued.units),
            all_units=issued.all_units,
            scopes=list(issued.scopes),
        )

    return router


__all__ = ["build_router"]
