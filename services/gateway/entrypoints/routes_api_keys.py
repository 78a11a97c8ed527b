"""API keys for portals and units' systems: issue (ministry admins), list and revoke (ministry
admins any key, a unit's admins the keys bound to their units only)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from services.gateway.domain.authorization import Principal, Scope, may_manage_key
from services.gateway.domain.model import ApiKeyInfo
from services.gateway.domain.problems import API_KEY_NOT_FOUND, INVALID_REQUEST, ApiProblem
from services.gateway.entrypoints.change_audit import add_audit_details
from services.gateway.entrypoints.routing import RouteContext, problem_responses
from services.gateway.entrypoints.schemas.api_keys import ApiKeyIn, ApiKeyInfoOut, ApiKeyList, ApiKeyOut
from trolyao.messaging import UNIT_ID_PATTERN

TAG_KEYS = "khóa API"
KEY_ID_PATH = Path(
    pattern=r"^[0-9a-f]{12}$", description="Mã khóa (phần sau `tly_`).", examples=["4e2f9a1b3c5d"]
)


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
        expires_at = ""
        if body.expires_at is not None:
            expiry = body.expires_at if body.expires_at.tzinfo else body.expires_at.replace(tzinfo=UTC)
            if expiry <= datetime.now(UTC):
                raise ApiProblem(INVALID_REQUEST, "Thời điểm hết hạn `expires_at` phải ở tương lai.")
            expires_at = expiry.isoformat()
        issued = await gateway.backends.create_api_key(
            name=body.name,
            units=units,
            all_units=body.all_units,
            scopes=sorted(set(body.scopes)),
            expires_at=expires_at,
        )
        add_audit_details(request.scope, key_id=issued.key_id, units=",".join(units) or "*")
        return ApiKeyOut(
            key_id=issued.key_id,
            api_key=issued.api_key,
            name=issued.name,
            units=list(issued.units),
            all_units=issued.all_units,
            scopes=list(issued.scopes),
            expires_at=issued.expires_at,
        )

    @router.get(
        "/v1/api-keys",
        response_model=ApiKeyList,
        tags=[TAG_KEYS],
        summary="Danh sách khóa API",
        responses=problem_responses(401, 403, 422, 429, 503),
    )
    async def list_api_keys(
        principal: CurrentPrincipal,
        unit: Annotated[
            str | None,
            Query(pattern=UNIT_ID_PATTERN.pattern, description="Chỉ các khóa dùng được cho đơn vị này."),
        ] = None,
    ) -> ApiKeyList:
        """Các khóa API (không bao giờ kèm khóa bí mật), mới nhất trước, với lần dùng cuối, thời điểm hết
        hạn và thu hồi. Quản trị cấp Bộ thấy mọi khóa; quản trị đơn vị chỉ thấy khóa gắn với đơn vị
        mình, ví dụ `GET /v1/api-keys?unit=cuc-bao-chi`."""
        require(
            principal, unit if unit else (None if principal.all_units else _any_unit(principal)), Scope.ADMIN
        )
        now = datetime.now(UTC)
        return ApiKeyList(
            keys=[
                _key_out(key, now)
                for key in await gateway.backends.list_api_keys()
                if may_manage_key(principal, key_units=key.units, key_all_units=key.all_units)
                and (unit is None or key.all_units or unit in key.units)
            ]
        )

    @router.delete(
        "/v1/api-keys/{key_id}",
        response_model=ApiKeyInfoOut,
        tags=[TAG_KEYS],
        summary="Thu hồi khóa API",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def revoke_api_key(
        principal: CurrentPrincipal, key_id: Annotated[str, KEY_ID_PATH]
    ) -> ApiKeyInfoOut:
        """Thu hồi khóa: mọi bản sao gateway từ chối khóa trong vòng 5 giây; ghi nhật ký kiểm toán
        (`api_key.revoked`). Quản trị đơn vị chỉ thu hồi được khóa gắn với đơn vị mình (khóa khác: 404),
        ví dụ `DELETE /v1/api-keys/4e2f9a1b3c5d`."""
        require(principal, None if principal.all_units else _any_unit(principal), Scope.ADMIN)
        known = {key.key_id: key for key in await gateway.backends.list_api_keys()}.get(key_id)
        if known is None or not may_manage_key(
            principal, key_units=known.units, key_all_units=known.all_units
        ):
            raise ApiProblem(API_KEY_NOT_FOUND)
        return _key_out(await gateway.backends.revoke_api_key(key_id), datetime.now(UTC))

    return router


def _any_unit(principal: Principal) -> str:
    """A unit the principal holds (its admin scope is checked on it); "" when it holds none."""
    return next(iter(sorted(principal.units)), "")


def _key_out(key: ApiKeyInfo, now: datetime) -> ApiKeyInfoOut:
    expired = bool(key.expires_at) and datetime.fromisoformat(key.expires_at.replace("Z", "+00:00")) <= now
    return ApiKeyInfoOut(
        key_id=key.key_id,
        name=key.name,
        units=sorted(key.units),
        all_units=key.all_units,
        scopes=list(key.scopes),
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked=key.revoked,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
        active=not key.revoked and not expired,
    )


__all__ = ["build_router"]
