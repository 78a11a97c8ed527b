"""Request and response bodies of the login, account and audit routes (OpenAPI, with examples)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_USERNAME_CHARS = 64
MAX_PASSWORD_CHARS = 256
MAX_CODE_CHARS = 32
MAX_TOKEN_CHARS = 4096
MAX_DISPLAY_NAME_CHARS = 200
MAX_UNITS = 64


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_Strict):
    username: str = Field(min_length=1, max_length=MAX_USERNAME_CHARS, examples=["nguyen.van.a"])
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS, examples=["mật-khẩu-đủ-dài"])


class OtpIn(_Strict):
    challenge_id: str = Field(min_length=1, max_length=MAX_CODE_CHARS * 2, description="Từ bước đăng nhập.")
    code: str = Field(
        min_length=1, max_length=MAX_CODE_CHARS, examples=["123456"], description="Mã OTP 6 chữ số."
    )


class RecoveryCodeIn(_Strict):
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


class EnrolmentStartIn(_Strict):
    challenge_id: str | None = Field(
        default=None, max_length=MAX_CODE_CHARS * 2, description="Từ bước đăng nhập (khi `next` là `enrol`)."
    )


class EnrolmentOut(BaseModel):
    otpauth_uri: str = Field(examples=["otpauth://totp/TroLyAo:nguyen.van.a?secret=...&issuer=TroLyAo"])
    secret: str = Field(description="Khóa bí mật (base32) để nhập tay khi không quét được mã QR.")
    qr_svg: str = Field(description="Mã QR dạng SVG.")
    qr_png_base64: str = Field(description="Mã QR dạng PNG, mã hóa base64.")


class EnrolmentConfirmIn(_Strict):
    challenge_id: str | None = Field(default=None, max_length=MAX_CODE_CHARS * 2)
    code: str = Field(min_length=1, max_length=MAX_CODE_CHARS, examples=["123456"])


class EnrolmentConfirmedOut(BaseModel):
    recovery_codes: list[str] = Field(description="10 mã khôi phục dùng một lần; chỉ hiển thị lần này.")
    tokens: TokensOut | None = None


class RefreshIn(_Strict):
    refresh_token: str = Field(min_length=1, max_length=MAX_TOKEN_CHARS)


class LogoutIn(_Strict):
    refresh_token: str | None = Field(default=None, max_length=MAX_TOKEN_CHARS)


class StepUpIn(_Strict):
    code: str = Field(min_length=1, max_length=MAX_CODE_CHARS, examples=["123456"])


class PasswordChangeIn(_Strict):
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


class AccountOut(BaseModel):
    username: str
    display_name: str
    role: str = Field(examples=["unit_editor"])
    units: list[str] = Field(examples=[["cuc-bao-chi"]])
    otp_enrolled: bool
    disabled: bool
    recovery_codes_left: int
    created_at: str
    updated_at: str
    created_by: str


class AccountList(BaseModel):
    accounts: list[AccountOut]


class AccountIn(_Strict):
    username: str = Field(min_length=3, max_length=MAX_USERNAME_CHARS, examples=["tran.thi.b"])
    display_name: str = Field(default="", max_length=MAX_DISPLAY_NAME_CHARS, examples=["Trần Thị B"])
    role: str = Field(
        examples=["unit_editor"], description="ministry_admin, unit_admin, unit_editor hoặc viewer."
    )
    units: list[str] = Field(default_factory=list, max_length=MAX_UNITS, examples=[["cuc-bao-chi"]])


class AccountCreatedOut(BaseModel):
    account: AccountOut
    initial_password: str = Field(
        description="Mật khẩu ban đầu, chỉ hiển thị lần này; người dùng đổi sau khi đăng nhập."
    )


class RoleIn(_Strict):
    role: str = Field(examples=["viewer"])
    units: list[str] = Field(default_factory=list, max_length=MAX_UNITS, examples=[["cuc-bao-chi"]])


class AccountStatusIn(_Strict):
    disabled: bool


class PolicyIn(_Strict):
    otp_required_for_all: bool


class PolicyOut(BaseModel):
    otp_required_for_all: bool
    updated_at: str
    updated_by: str


class AuditEventOut(BaseModel):
    sequence: int
    event_id: str
    occurred_at: str
    actor: str = Field(examples=["user:nguyen.van.a"])
    action: str = Field(examples=["login.otp"])
    outcome: str = Field(examples=["success"])
    client_address: str
    target: str
    unit: str
    reason: str
    details: dict[str, str]


class AuditPageOut(BaseModel):
    events: list[AuditEventOut]
    next_after: int = Field(description="Truyền vào `after` để lấy trang tiếp theo.")
    more: bool
