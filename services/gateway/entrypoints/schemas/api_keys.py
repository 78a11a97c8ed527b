"""Request and response bodies of the API-key routes (`routes_api_keys`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "Cổng thông tin Cục Báo chí", "units": ["cuc-bao-chi"], "scopes": ["read"]}]
        }
    )
    name: str = Field(min_length=1, max_length=200, description="Ai dùng khóa này (để quản lý).")
    units: list[str] = Field(default_factory=list, max_length=100, description="Các đơn vị khóa được dùng.")
    all_units: bool = Field(default=False, description="Dùng cho mọi đơn vị (cấp Bộ).")
    scopes: list[Literal["read", "write", "admin"]] = Field(
        min_length=1,
        max_length=3,
        description="read: hỏi đáp, xem; write: cập nhật văn bản; admin: quản trị.",
    )
    expires_at: datetime | None = Field(
        default=None,
        description=(
            "Thời điểm khóa hết hạn (RFC 3339, ví dụ `2027-01-01T00:00:00+07:00`); bỏ trống: không hết hạn."
        ),
    )


class ApiKeyOut(BaseModel):
    key_id: str = Field(examples=["4e2f9a1b3c5d"])
    api_key: str = Field(description="Khóa bí mật, chỉ hiển thị một lần.", examples=["tly_4e2f9a1b3c5d_..."])
    name: str = Field(examples=["Cổng thông tin Cục Báo chí"])
    units: list[str] = Field(examples=[["cuc-bao-chi"]])
    all_units: bool = False
    scopes: list[str] = Field(examples=[["read"]])
    expires_at: str = Field(default="", description="Thời điểm hết hạn (UTC); rỗng: không hết hạn.")


class ApiKeyInfoOut(BaseModel):
    """Một khóa API khi liệt kê: không bao giờ có khóa bí mật."""

    key_id: str = Field(examples=["4e2f9a1b3c5d"])
    name: str = Field(examples=["Cổng thông tin Cục Báo chí"])
    units: list[str] = Field(examples=[["cuc-bao-chi"]])
    all_units: bool = False
    scopes: list[str] = Field(examples=[["read"]])
    created_at: str = Field(examples=["2026-12-01T08:00:00Z"])
    expires_at: str = Field(default="", description="Rỗng: không hết hạn.")
    revoked: bool = False
    revoked_at: str = ""
    last_used_at: str = Field(
        default="", description="Lần cuối khóa được chấp nhận (chính xác tới phút); rỗng: chưa dùng."
    )
    active: bool = Field(description="Còn dùng được: chưa thu hồi và chưa hết hạn.")


class ApiKeyList(BaseModel):
    keys: list[ApiKeyInfoOut]
