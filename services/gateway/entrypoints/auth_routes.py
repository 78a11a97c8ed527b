"""Login with password + OTP, tokens, accounts and roles, and the audit trail, over HTTP.

Routes only turn HTTP into ops calls: ops decides (and re-verifies the caller's token, role and
step-up itself); the gateway checks role and step-up first only to answer early and clearly.
Account and audit routes take people's access tokens, never API keys.
"""

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import grpc
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse

from services.gateway.adapters.access_tokens import (
    DEFAULT_STEP_UP_MAX_AGE_SECONDS,
    AccessTokenVerifier,
    call_ops_security,
    require_fresh_otp,
)
from services.gateway.adapters.backends import Backends
from services.gateway.domain.authorization import Principal
from services.gateway.domain.problems import (
    ACCOUNT_NOT_FOUND,
    FORBIDDEN,
    LOGIN_FAILED,
    SESSION_ENDED,
    UNAUTHENTICATED,
    ApiProblem,
)
from services.gateway.entrypoints.auth_schemas import (
    AccountCreatedOut,
    AccountIn,
    AccountList,
    AccountOut,
    AccountStatusIn,
    AuditEventOut,
    AuditPageOut,
    EnrolmentConfirmedOut,
    EnrolmentConfirmIn,
    EnrolmentOut,
    EnrolmentStartIn,
    LoginIn,
    LoginStepOut,
    LogoutIn,
    MeOut,
    OtpIn,
    PasswordChangeIn,
    PolicyIn,
    PolicyOut,
    RecoveryCodeIn,
    RefreshIn,
    RoleIn,
    StepUpIn,
    TokensOut,
)
from trolyao.logs import get_logger
from trolyao.v1 import ops_pb2

log = get_logger("gateway")

MINISTRY_ADMIN = "ministry_admin"
ACCOUNT_ADMIN_ROLES = frozenset({"ministry_admin", "unit_admin"})
USERNAME_PATH_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,63}$"
MAX_AUDIT_PAGE = 1000
DEFAULT_AUDIT_PAGE = 100
EXPORT_TIMEOUT_SECONDS = 300.0
NDJSON = "application/x-ndjson"
NO_STORE = "no-store"
JWT_DOTS = 2

UsernamePath = Annotated[str, PathParam(pattern=USERNAME_PATH_PATTERN, examples=["nguyen.van.a"])]


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    """A person's verified access token, and where the request came from."""

    principal: Principal
    token: str
    client_address: str

    def caller(self) -> ops_pb2.Caller:
        return ops_pb2.Caller(access_token=self.token, client_address=self.client_address)


def no_store(response: Response) -> None:
    """Tokens, secrets, recovery codes and initial passwords must not be cached (RFC 6749 §5.1)."""
    response.headers["Cache-Control"] = NO_STORE
    response.headers["Pragma"] = "no-cache"


def client_address(request: Request) -> str:
    """The peer address as the gateway sees it (behind a proxy: configure uvicorn's forwarded-allow-ips)."""
    return request.client.host if request.client else ""


def _bearer(request: Request) -> str | None:
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    credential = credential.strip()
    return credential if scheme.lower() == "bearer" and credential else None


def _tokens_out(tokens: ops_pb2.TokenPair) -> TokensOut:
    return TokensOut(
        access_token=tokens.access_token,
        token_type=tokens.token_type or "Bearer",
        access_expires_at=tokens.access_expires_at,
        refresh_token=tokens.refresh_token or None,
        refresh_expires_at=tokens.refresh_expires_at or None,
    )


def _login_step_out(step: ops_pb2.LoginStep) -> LoginStepOut:
    return LoginStepOut(
        next=step.next,
        challenge_id=step.challenge_id or None,
        challenge_expires_at=step.challenge_expires_at or None,
        tokens=_tokens_out(step.tokens) if step.HasField("tokens") else None,
        recovery_codes_left=step.recovery_codes_left
        if step.next == "done" and step.recovery_codes_left
        else None,
    )


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


def build_auth_router(
    backends: Backends,
    verifier: AccessTokenVerifier | None = None,
    *,
    step_up_max_age_seconds: int = DEFAULT_STEP_UP_MAX_AGE_SECONDS,
) -> APIRouter:
    """Routes under `/v1/auth`, `/v1/accounts` and `/v1/audit`.

    Pass the app's verifier so that the routes and `current_principal` share one key cache.
    """
    tokens = verifier or AccessTokenVerifier(backends)
    router = APIRouter(dependencies=[Depends(no_store)])
    timeout = backends.timeout

    async def current_user(request: Request) -> AuthenticatedUser:
        token = _bearer(request)
        if token is None:
            raise ApiProblem(UNAUTHENTICATED, "Thiếu tiêu đề Authorization: Bearer <token truy cập>.")
        if token.count(".") != JWT_DOTS:
            raise ApiProblem(
                UNAUTHENTICATED,
                "Thao tác này cần đăng nhập bằng tài khoản (token truy cập), không dùng khóa API.",
            )
        principal = await tokens.verify(token)
        return AuthenticatedUser(principal=principal, token=token, client_address=client_address(request))

    CurrentUser = Annotated[AuthenticatedUser, Depends(current_user)]

    async def optional_user(request: Request) -> AuthenticatedUser | None:
        return await current_user(request) if _bearer(request) else None

    OptionalUser = Annotated[AuthenticatedUser | None, Depends(optional_user)]

    def fresh_otp(user: AuthenticatedUser) -> None:
        require_fresh_otp(user.principal, max_age_seconds=step_up_max_age_seconds, now=tokens.clock())

    def require_account_admin(user: AuthenticatedUser) -> None:
        if user.principal.role not in ACCOUNT_ADMIN_ROLES:
            raise ApiProblem(FORBIDDEN, "Chỉ quản trị cấp Bộ hoặc quản trị đơn vị được quản lý tài khoản.")

    def require_ministry_admin(user: AuthenticatedUser) -> None:
        if user.principal.role != MINISTRY_ADMIN:
            raise ApiProblem(FORBIDDEN, "Chỉ quản trị cấp Bộ được thực hiện thao tác này.")

    # ------------------------------------------------------------------ login

    @router.post(
        "/v1/auth/login", response_model=LoginStepOut, tags=["đăng nhập"], summary="Đăng nhập bằng mật khẩu"
    )
    async def login(request: Request, body: LoginIn) -> LoginStepOut:
        """Bước 1: tên đăng nhập và mật khẩu. Trả về bước tiếp theo: `otp` (nhập mã từ ứng dụng xác thực),
        `enrol` (đăng ký ứng dụng xác thực trước) hoặc `done` kèm token khi tài khoản không cần OTP.
        Sai tên, sai mật khẩu hay tài khoản không tồn tại đều nhận cùng một lỗi; nhập sai nhiều lần sẽ bị
        tạm khóa (429, `Retry-After`)."""
        step = await call_ops_security(
            backends.ops.StartLogin(
                ops_pb2.StartLoginRequest(
                    username=body.username, password=body.password, client_address=client_address(request)
                ),
                timeout=timeout,
            ),
            unauthenticated=LOGIN_FAILED,
        )
        return _login_step_out(step)

    @router.post("/v1/auth/login/otp", response_model=LoginStepOut, tags=["đăng nhập"], summary="Nhập mã OTP")
    async def login_otp(request: Request, body: OtpIn) -> LoginStepOut:
        """Bước 2: mã 6 chữ số từ Google/Microsoft Authenticator. Mỗi mã chỉ dùng được một lần."""
        step = await call_ops_security(
            backends.ops.VerifyLoginOtp(
                ops_pb2.VerifyLoginOtpRequest(
                    challenge_id=body.challenge_id, code=body.code, client_address=client_address(request)
                ),
                timeout=timeout,
            ),
            unauthenticated=LOGIN_FAILED,
        )
        return _login_step_out(step)

    @router.post(
        "/v1/auth/login/recovery",
        response_model=LoginStepOut,
        tags=["đăng nhập"],
        summary="Đăng nhập bằng mã khôi phục",
    )
    async def login_recovery(request: Request, body: RecoveryCodeIn) -> LoginStepOut:
        """Bước 2 khi mất điện thoại: một trong 10 mã khôi phục; mỗi mã chỉ dùng được một lần."""
        step = await call_ops_security(
            backends.ops.VerifyRecoveryCode(
                ops_pb2.VerifyRecoveryCodeRequest(
                    challenge_id=body.challenge_id,
                    recovery_code=body.recovery_code,
                    client_address=client_address(request),
                ),
                timeout=timeout,
            ),
            unauthenticated=LOGIN_FAILED,
        )
        return _login_step_out(step)

    @router.post(
        "/v1/auth/enrolment/start",
        response_model=EnrolmentOut,
        tags=["đăng nhập"],
        summary="Đăng ký ứng dụng xác thực",
    )
    async def enrolment_start(request: Request, body: EnrolmentStartIn, user: OptionalUser) -> EnrolmentOut:
        """Tạo khóa OTP mới (chưa có hiệu lực cho tới khi xác nhận): trả về URI `otpauth://` và mã QR
        (SVG, PNG) để quét bằng Google Authenticator hoặc Microsoft Authenticator. Dùng `challenge_id` từ
        bước đăng nhập, hoặc token truy cập của tài khoản chưa có ứng dụng xác thực."""
        if not body.challenge_id and user is None:
            raise ApiProblem(UNAUTHENTICATED, "Cần `challenge_id` từ bước đăng nhập hoặc token truy cập.")
        caller = user.caller() if user else ops_pb2.Caller(client_address=client_address(request))
        reply = await call_ops_security(
            backends.ops.StartEnrolment(
                ops_pb2.StartEnrolmentRequest(challenge_id=body.challenge_id or "", caller=caller),
                timeout=timeout,
            ),
            unauthenticated=LOGIN_FAILED,
        )
        return EnrolmentOut(
            otpauth_uri=reply.otpauth_uri,
            secret=reply.secret,
            qr_svg=reply.qr_svg,
            qr_png_base64=base64.b64encode(reply.qr_png).decode(),
        )

    @router.post(
        "/v1/auth/enrolment/confirm",
        response_model=EnrolmentConfirmedOut,
        tags=["đăng nhập"],
        summary="Xác nhận ứng dụng xác thực",
    )
    async def enrolment_confirm(
        request: Request, body: EnrolmentConfirmIn, user: OptionalUser
    ) -> EnrolmentConfirmedOut:
        """Xác nhận bằng mã đầu tiên từ ứng dụng. Trả về 10 mã khôi phục (chỉ hiển thị lần này) và, khi
        đang đăng nhập bằng `challenge_id`, token truy cập."""
        if not body.challenge_id and user is None:
            raise ApiProblem(UNAUTHENTICATED, "Cần `challenge_id` từ bước đăng nhập hoặc token truy cập.")
        caller = user.caller() if user else ops_pb2.Caller(client_address=client_address(request))
        reply = await call_ops_security(
            backends.ops.ConfirmEnrolment(
                ops_pb2.ConfirmEnrolmentRequest(
                    challenge_id=body.challenge_id or "", caller=caller, code=body.code
                ),
                timeout=timeout,
            ),
            unauthenticated=LOGIN_FAILED,
        )
        return EnrolmentConfirmedOut(
            recovery_codes=list(reply.recovery_codes),
            tokens=_tokens_out(reply.tokens) if reply.HasField("tokens") else None,
        )

    @router.post("/v1/auth/refresh", response_model=TokensOut, tags=["đăng nhập"], summary="Làm mới token")
    async def refresh(request: Request, body: RefreshIn) -> TokensOut:
        """Đổi refresh token lấy cặp token mới; refresh token cũ hết hiệu lực. Dùng lại một refresh token
        đã đổi (dấu hiệu bị đánh cắp) sẽ thu hồi cả phiên đăng nhập."""
        reply = await call_ops_security(
            backends.ops.RefreshTokens(
                ops_pb2.RefreshTokensRequest(
                    refresh_token=body.refresh_token, client_address=client_address(request)
                ),
                timeout=timeout,
            ),
            unauthenticated=SESSION_ENDED,
        )
        return _tokens_out(reply)

    @router.post("/v1/auth/logout", status_code=204, tags=["đăng nhập"], summary="Đăng xuất")
    async def logout(request: Request, body: LogoutIn | None = None) -> Response:
        """Thu hồi phiên đăng nhập (bằng token truy cập, hoặc refresh token trong thân yêu cầu)."""
        token = _bearer(request) or ""
        refresh_token = body.refresh_token if body else None
        if not token and not refresh_token:
            raise ApiProblem(UNAUTHENTICATED, "Cần token truy cập hoặc refresh token.")
        await call_ops_security(
            backends.ops.Logout(
                ops_pb2.LogoutRequest(
                    caller=ops_pb2.Caller(access_token=token, client_address=client_address(request)),
                    refresh_token=refresh_token or "",
                ),
                timeout=timeout,
            ),
            unauthenticated=SESSION_ENDED,
        )
        return Response(status_code=204)

    @router.post(
        "/v1/auth/step-up", response_model=TokensOut, tags=["đăng nhập"], summary="Xác nhận lại bằng OTP"
    )
    async def step_up(body: StepUpIn, user: CurrentUser) -> TokensOut:
        """Nhập lại mã OTP trước thao tác nguy hiểm (khôi phục dữ liệu, xóa văn bản, đổi vai trò). Trả về
        token truy cập mới ghi nhận thời điểm xác nhận; refresh token giữ nguyên."""
        reply = await call_ops_security(
            backends.ops.StepUp(ops_pb2.StepUpRequest(caller=user.caller(), code=body.code), timeout=timeout),
            unauthenticated=LOGIN_FAILED,
        )
        return _tokens_out(reply)

    @router.post("/v1/auth/password", status_code=204, tags=["đăng nhập"], summary="Đổi mật khẩu")
    async def change_password(body: PasswordChangeIn, user: CurrentUser) -> Response:
        """Đổi mật khẩu của chính mình; mọi phiên đăng nhập của tài khoản kết thúc (đăng nhập lại)."""
        await call_ops_security(
            backends.ops.ChangePassword(
                ops_pb2.ChangePasswordRequest(
                    caller=user.caller(),
                    current_password=body.current_password,
                    new_password=body.new_password,
                ),
                timeout=timeout,
            ),
            unauthenticated=LOGIN_FAILED,
        )
        return Response(status_code=204)

    @router.get("/v1/auth/me", response_model=MeOut, tags=["đăng nhập"], summary="Tài khoản đang đăng nhập")
    async def me(user: CurrentUser) -> MeOut:
        """Vai trò, đơn vị, quyền và thời điểm xác nhận OTP gần nhất của token đang dùng."""
        principal = user.principal
        return MeOut(
            subject=principal.subject,
            role=principal.role,
            units=sorted(principal.units),
            all_units=principal.all_units,
            scopes=sorted(principal.scopes),
            otp_at=principal.otp_at,
            amr=sorted(principal.amr),
        )

    @router.get("/v1/auth/jwks", tags=["đăng nhập"], summary="Khóa công khai (JWKS)")
    async def jwks() -> dict[str, list[dict[str, object]]]:
        """Khóa công khai Ed25519 để kiểm tra chữ ký token truy cập (RFC 7517)."""
        key_set = await tokens.key_set()
        return {"keys": key_set.jwks}

    @router.get(
        "/v1/auth/policy", response_model=PolicyOut, tags=["đăng nhập"], summary="Chính sách đăng nhập"
    )
    async def get_policy(user: CurrentUser) -> PolicyOut:
        """Có bắt buộc OTP với mọi tài khoản hay không (quản trị luôn bắt buộc)."""
        require_account_admin(user)
        reply = await call_ops_security(
            backends.ops.GetSecurityPolicy(
                ops_pb2.GetSecurityPolicyRequest(caller=user.caller()), timeout=timeout
            )
        )
        return PolicyOut(
            otp_required_for_all=reply.otp_required_for_all,
            updated_at=reply.updated_at,
            updated_by=reply.updated_by,
        )

    @router.put(
        "/v1/auth/policy", response_model=PolicyOut, tags=["đăng nhập"], summary="Đặt chính sách đăng nhập"
    )
    async def set_policy(body: PolicyIn, user: CurrentUser) -> PolicyOut:
        """Bắt buộc OTP với mọi tài khoản (chỉ quản trị cấp Bộ, cần xác nhận OTP gần đây)."""
        require_ministry_admin(user)
        fresh_otp(user)
        reply = await call_ops_security(
            backends.ops.SetSecurityPolicy(
                ops_pb2.SetSecurityPolicyRequest(
                    caller=user.caller(), otp_required_for_all=body.otp_required_for_all
                ),
                timeout=timeout,
            )
        )
        return PolicyOut(
            otp_required_for_all=reply.otp_required_for_all,
            updated_at=reply.updated_at,
            updated_by=reply.updated_by,
        )

    @router.post(
        "/v1/auth/signing-keys/rotate", tags=["đăng nhập"], summary="Xoay khóa ký token", response_model=None
    )
    async def rotate_signing_key(user: CurrentUser) -> dict[str, object]:
        """Tạo khóa ký mới; khóa cũ vẫn được công bố tới khi token cũ hết hạn (quản trị cấp Bộ, cần OTP)."""
        require_ministry_admin(user)
        fresh_otp(user)
        reply = await call_ops_security(
            backends.ops.RotateSigningKey(
                ops_pb2.RotateSigningKeyRequest(caller=user.caller()), timeout=timeout
            )
        )
        await tokens.refresh()
        return {"active_kid": reply.active_kid, "keys": [key.kid for key in reply.keys]}

    # ------------------------------------------------------------------ accounts

    @router.get("/v1/accounts", response_model=AccountList, tags=["tài khoản"], summary="Danh sách tài khoản")
    async def list_accounts(user: CurrentUser) -> AccountList:
        """Quản trị cấp Bộ thấy mọi tài khoản; quản trị đơn vị thấy tài khoản thuộc đơn vị mình."""
        require_account_admin(user)
        reply = await call_ops_security(
            backends.ops.ListAccounts(ops_pb2.ListAccountsRequest(caller=user.caller()), timeout=timeout)
        )
        return AccountList(accounts=[_account_out(account) for account in reply.accounts])

    @router.post(
        "/v1/accounts",
        response_model=AccountCreatedOut,
        status_code=201,
        tags=["tài khoản"],
        summary="Tạo tài khoản",
    )
    async def create_account(body: AccountIn, user: CurrentUser) -> AccountCreatedOut:
        """Tạo tài khoản với mật khẩu ban đầu ngẫu nhiên (chỉ hiển thị lần này). Quản trị đơn vị chỉ tạo
        biên tập viên và người xem của đơn vị mình. Cần xác nhận OTP gần đây."""
        require_account_admin(user)
        fresh_otp(user)
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
        require_account_admin(user)
        fresh_otp(user)
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
        require_account_admin(user)
        fresh_otp(user)
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
        require_account_admin(user)
        fresh_otp(user)
        reply = await call_ops_security(
            backends.ops.ResetAccountOtp(
                ops_pb2.ResetAccountOtpRequest(caller=user.caller(), username=username), timeout=timeout
            ),
            not_found=ACCOUNT_NOT_FOUND,
        )
        return _account_out(reply)

    # ------------------------------------------------------------------ audit

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
    ) -> AuditPageOut:
        """Ai đã làm gì, khi nào, từ đâu, kết quả ra sao (đăng nhập, khóa tài khoản, đổi vai trò, văn bản,
        sao lưu và khôi phục), cũ trước mới sau. Chỉ quản trị cấp Bộ."""
        require_ministry_admin(user)
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
        )
        reply = await call_ops_security(backends.ops.QueryAudit(request, timeout=timeout))
        return AuditPageOut(
            events=[_audit_event_out(event) for event in reply.events],
            next_after=reply.next_after_sequence,
            more=reply.more,
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
        require_ministry_admin(user)
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
