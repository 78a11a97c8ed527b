"""Login with password + OTP, OTP enrolment, tokens and sessions, the login policy and the token
signing keys, over HTTP (`/v1/auth/...`); see `routing_accounts` for what ops decides."""

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from services.gateway.adapters.access_tokens import call_ops_security
from services.gateway.domain.problems import LOGIN_FAILED, SESSION_ENDED, UNAUTHENTICATED, ApiProblem
from services.gateway.entrypoints.routing import client_address
from services.gateway.entrypoints.routing_accounts import (
    AccountRouteContext,
    AuthenticatedUser,
    bearer,
    no_store,
)
from services.gateway.entrypoints.schemas.login import (
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
    StepUpIn,
    TokensOut,
)
from trolyao.v1 import ops_pb2


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


def build_router(ctx: AccountRouteContext) -> APIRouter:
    """Routes under `/v1/auth`."""
    router = APIRouter(dependencies=[Depends(no_store)])
    backends, tokens, timeout = ctx.backends, ctx.tokens, ctx.timeout
    CurrentUser = Annotated[AuthenticatedUser, Depends(ctx.current_user)]
    OptionalUser = Annotated[AuthenticatedUser | None, Depends(ctx.optional_user)]

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
        token = bearer(request) or ""
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
        """Có bắt buộc OTP với cả tài khoản chỉ xem hay không (quản trị và biên tập viên — mọi vai trò được
        sửa văn bản, câu hỏi thường gặp hay cài đặt — luôn bắt buộc)."""
        ctx.require_account_admin(user)
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
        """Bắt buộc OTP với cả tài khoản chỉ xem (vai trò được sửa đổi luôn bắt buộc); chỉ quản trị cấp Bộ,
        cần xác nhận OTP gần đây."""
        ctx.require_ministry_admin(user)
        ctx.fresh_otp(user)
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
        ctx.require_ministry_admin(user)
        ctx.fresh_otp(user)
        reply = await call_ops_security(
            backends.ops.RotateSigningKey(
                ops_pb2.RotateSigningKeyRequest(caller=user.caller()), timeout=timeout
            )
        )
        await tokens.refresh()
        return {"active_kid": reply.active_kid, "keys": [key.kid for key in reply.keys]}

    return router


__all__ = ["build_router"]
