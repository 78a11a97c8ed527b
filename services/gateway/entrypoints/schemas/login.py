"""Request and response bodies of login with password + OTP, tokens and the login policy
(`routes_login`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.gateway.entrypoints.schemas.common import StrictBody

MAX_USERNAME_CHARS = 64
MAX_PASSWORD_CHARS = 256
MAX_CODE_CHARS = 32
MAX_TOKEN_CHARS = 4096


class LoginIn(StrictBody):
    username: str = Field(min_length=1, max_length=MAX_USERNAME_CHARS, examples=["nguyen.van.a"])
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS, examples=["mật-khẩu-đủ-dài"])


class OtpIn(StrictBody):
    challenge_id: str = Field(min_length=1, max_length=MAX_CODE_CHARS * 2, description="Từ bước đăng nhập.")
    code: str = Field(
        min_length=1, max_length=MAX_CODE_CHARS, examples=["123456"], description="Mã OTP 6 chữ số."
    )


class RecoveryCodeIn(StrictBody):
    challenge_id: str = Field(min_length=1, max_length=MAX_CODE_CHARS * 2)
    recovery_code: str = Field(min_length=1, max_length=MAX_CODE_CHARS, examples=["7KQ4-M2ZD-9XHT-B6RN"])


class TokensOut(BaseModel):
    access_token: str
    token_type: str = Field(examples=["Bearer"])
    access_expires_at: int = Field(description="Hết hạn (Unix, giây).")
    refresh_token: str | None = Field(
        default=None, description="Dùng một lần; mỗi lần làm mới nhận token mới."
    )
    refresh_expires_at: int | None = None


class LoginStepOut(BaseModel):
    next: str = Field(
        description=(
            "`otp`: gửi mã OTP (hoặc mã khôi phục); `enrol`: đăng ký ứng dụng xác thực; `done`: đã có token."
        ),
        examples=["otp"],
    )
    challenge_id: str | None = None
    challenge_expires_at: int | None = None
    tokens: TokensOut | None = None
    recovery_codes_left: int | None = Field(
        default=None, description="Số mã khôi phục còn lại (sau khi dùng một mã)."
    )


class EnrolmentStartIn(StrictBody):
    challenge_id: str | None = Field(
        default=None, max_length=MAX_CODE_CHARS * 2, description="Từ bước đăng nhập (khi `next` là `enrol`)."
    )


class EnrolmentOut(BaseModel):
    otpauth_uri: str = Field(examples=["otpauth://totp/TroLyAo:nguyen.van.a?secret=...&issuer=TroLyAo"])
    secret: str = Field(description="Khóa bí mật (base32) để nhập tay khi không quét được mã QR.")
    qr_svg: str = Field(description="Mã QR dạng SVG.")
    qr_png_base64: str = Field(description="Mã QR dạng PNG, mã hóa base64.")


class EnrolmentConfirmIn(StrictBody):
    challenge_id: str | None = Field(default=None, max_length=MAX_CODE_CHARS * 2)
    code: str = Field(min_length=1, max_length=MAX_CODE_CHARS, examples=["123456"])


class EnrolmentConfirmedOut(BaseModel):
    recovery_codes: list[str] = Field(description="10 mã khôi phục dùng một lần; chỉ hiển thị lần này.")
    tokens: TokensOut | None = None


class RefreshIn(StrictBody):
    refresh_token: str = Field(min_length=1, max_length=MAX_TOKEN_CHARS)


class LogoutIn(StrictBody):
    refresh_token: str | None = Field(default=None, max_length=MAX_TOKEN_CHARS)


class StepUpIn(StrictBody):
    code: str = Field(min_length=1, max_length=MAX_CODE_CHARS, examples=["123456"])


class PasswordChangeIn(StrictBody):
    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)
    new_password: str = Field(min_length=12, max_length=MAX_PASSWORD_CHARS)


class MeOut(BaseModel):
    subject: str = Field(examples=["user:nguyen.van.a"])
    role: str | None = Field(examples=["unit_editor"])
    units: list[str]
    all_units: bool
    scopes: list[str]
    otp_at: float | None = Field(description="Lần cuối xác nhận OTP (Unix, giây).")
    amr: list[str] = Field(examples=[["pwd", "otp"]])


class PolicyIn(StrictBody):
    otp_required_for_all: bool


class PolicyOut(BaseModel):
    otp_required_for_all: bool
    updated_at: str
    updated_by: str
