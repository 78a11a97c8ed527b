"""Account administration over HTTP: list, create, read, change role, disable and reset OTP
(`/v1/accounts/...`; people's access tokens only, see `routing_accounts`)."""

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Response
from fastapi import Path as PathParam

from services.gateway.adapters.access_tokens import call_ops_security
from services.gateway.domain.pagination import DEFAULT_PAGE_SIZE
from services.gateway.domain.problems import ACCOUNT_NOT_FOUND
from services.gateway.entrypoints.routing import PageCursor, PageLimit, paginate
from services.gateway.entrypoints.routing_accounts import AccountRouteContext, AuthenticatedUser, no_store
from services.gateway.entrypoints.schemas.accounts import (
    AccountCreatedOut,
    AccountIn,
    AccountList,
    AccountOut,
    AccountStatusIn,
    RoleIn,
)
from trolyao.v1 import ops_pb2

USERNAME_PATH_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,63}$"

UsernamePath = Annotated[str, PathParam(pattern=USERNAME_PATH_PATTERN, examples=["nguyen.van.a"])]


def _account_out(account: ops_pb2.Account) -> AccountOut:
    return AccountOut(
        username=account.username,
        display_name=account.display_name,
        role=account.role,
        units=list(account.units),
        otp_enrolled=account.otp_enrolled,
        disabled=account.disabled,
        recovery_codes_left=account.recovery_codes_left,
        created_at=account.created_at,
        updated_at=account.updated_at,
        created_by=account.created_by,
    )


def build_router(ctx: AccountRouteContext) -> APIRouter:
    """Routes under `/v1/accounts`."""
    router = APIRouter(dependencies=[Depends(no_store)])
    backends, timeout = ctx.backends, ctx.timeout
    CurrentUser = Annotated[AuthenticatedUser, Depends(ctx.current_user)]

    @router.get("/v1/accounts", response_model=AccountList, tags=["tài khoản"], summary="Danh sách tài khoản")
    async def list_accounts(
        user: CurrentUser, limit: PageLimit = DEFAULT_PAGE_SIZE, cursor: PageCursor = None
    ) -> AccountList:
        """Quản trị cấp Bộ thấy mọi tài khoản; quản trị đơn vị thấy tài khoản thuộc đơn vị mình. Theo tên
        đăng nhập, từng trang `limit` mục; `next_cursor` lấy trang sau."""
        ctx.require_account_admin(user)
        reply = await call_ops_security(
            backends.ops.ListAccounts(ops_pb2.ListAccountsRequest(caller=user.caller()), timeout=timeout)
        )
        page = paginate(list(reply.accounts), key=lambda a: (a.username,), limit=limit, cursor=cursor)
        return AccountList(accounts=[_account_out(a) for a in page.items], next_cursor=page.next_cursor)

    @router.post(
        "/v1/accounts",
        response_model=AccountCreatedOut,
        status_code=201,
        tags=["tài khoản"],
        summary="Tạo tài khoản",
    )
    async def create_account(body: AccountIn, user: CurrentUser, response: Response) -> AccountCreatedOut:
        """Tạo tài khoản với mật khẩu ban đầu ngẫu nhiên (chỉ hiển thị lần này). Quản trị đơn vị chỉ tạo
        biên tập viên và người xem của đơn vị mình. Cần xác nhận OTP gần đây."""
        ctx.require_account_admin(user)
        ctx.fresh_otp(user)
        reply = await call_ops_security(
            backends.ops.CreateAccount(
                ops_pb2.CreateAccountRequest(
                    caller=user.caller(),
                    username=body.username,
                    display_name=body.display_name,
                    role=body.role,
                    units=body.units,
                ),
                timeout=timeout,
            )
        )
        response.headers["Location"] = f"/v1/accounts/{quote(reply.account.username, safe='')}"
        return AccountCreatedOut(account=_account_out(reply.account), initial_password=reply.initial_password)

    @router.get(
        "/v1/accounts/{username}", response_model=AccountOut, tags=["tài khoản"], summary="Xem một tài khoản"
    )
    async def get_account(username: UsernamePath, user: CurrentUser) -> AccountOut:
        """Thông tin tài khoản (không bao giờ gồm mật khẩu hay khóa OTP)."""
        reply = await call_ops_security(
            backends.ops.GetAccount(
                ops_pb2.GetAccountRequest(caller=user.caller(), username=username), timeout=timeout
            ),
            not_found=ACCOUNT_NOT_FOUND,
        )
        return _account_out(reply)

    @router.put(
        "/v1/accounts/{username}/role", response_model=AccountOut, tags=["tài khoản"], summary="Đổi vai trò"
    )
    async def set_role(username: UsernamePath, body: RoleIn, user: CurrentUser) -> AccountOut:
        """Đổi vai trò và đơn vị của tài khoản; mọi phiên của tài khoản đó kết thúc.
        Cần xác nhận OTP gần đây."""
        ctx.require_account_admin(user)
        ctx.fresh_otp(user)
        reply = await call_ops_security(
            backends.ops.SetAccountRole(
                ops_pb2.SetAccountRoleRequest(
                    caller=user.caller(), username=username, role=body.role, units=body.units
                ),
                timeout=timeout,
            ),
            not_found=ACCOUNT_NOT_FOUND,
        )
        return _account_out(reply)

    @router.put(
        "/v1/accounts/{username}/status",
        response_model=AccountOut,
        tags=["tài khoản"],
        summary="Khóa / mở tài khoản",
    )
    async def set_status(username: UsernamePath, body: AccountStatusIn, user: CurrentUser) -> AccountOut:
        """Vô hiệu hóa (mọi phiên kết thúc ngay) hoặc mở lại tài khoản. Cần xác nhận OTP gần đây."""
        ctx.require_account_admin(user)
        ctx.fresh_otp(user)
        reply = await call_ops_security(
            backends.ops.SetAccountDisabled(
                ops_pb2.SetAccountDisabledRequest(
                    caller=user.caller(), username=username, disabled=body.disabled
                ),
                timeout=timeout,
            ),
            not_found=ACCOUNT_NOT_FOUND,
        )
        return _account_out(reply)

    @router.post(
        "/v1/accounts/{username}/otp-reset",
        response_model=AccountOut,
        tags=["tài khoản"],
        summary="Đặt lại OTP",
    )
    async def reset_otp(username: UsernamePath, user: CurrentUser) -> AccountOut:
        """Xóa ứng dụng xác thực và mã khôi phục của tài khoản (mất điện thoại); lần đăng nhập sau phải
        đăng ký lại. Cần xác nhận OTP gần đây."""
        ctx.require_account_admin(user)
        ctx.fresh_otp(user)
        reply = await call_ops_security(
            backends.ops.ResetAccountOtp(
                ops_pb2.ResetAccountOtpRequest(caller=user.caller(), username=username), timeout=timeout
            ),
            not_found=ACCOUNT_NOT_FOUND,
        )
        return _account_out(reply)

    return router


__all__ = ["build_router"]
