"""Request and response bodies of the API-key routes (`routes_api_keys`)."""

from __future__ import annotations

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


class ApiKeyOut(BaseModel):
    key_id: str = Field(examples=["4e2f9a1b3c5d"])
    api_key: str = Field(description="Khóa bí mật, chỉ hiển thị một lần.", examples=["tly_4e2f9a1b3c5d_..."])
    name: str = Field(examples=["Cổng thông tin Cục Báo chí"])
    units: list[str] = Field(examples=[["cuc-bao-chi"]])
    all_units: bool = False
    scopes: list[str] = Field(examples=[["read"]])
