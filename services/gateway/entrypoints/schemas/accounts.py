"""Request and response bodies of the account administration routes (`routes_accounts`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.gateway.entrypoints.schemas.common import Paged, StrictBody
from services.gateway.entrypoints.schemas.login import MAX_USERNAME_CHARS

MAX_DISPLAY_NAME_CHARS = 200
MAX_UNITS = 64


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


class AccountList(Paged):
    accounts: list[AccountOut]


class AccountIn(StrictBody):
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


class RoleIn(StrictBody):
    role: str = Field(examples=["viewer"])
    units: list[str] = Field(default_factory=list, max_length=MAX_UNITS, examples=[["cuc-bao-chi"]])


class AccountStatusIn(StrictBody):
    disabled: bool
