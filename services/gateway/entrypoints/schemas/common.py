"""What the request and response bodies of several route modules share."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_QUESTION_CHARS = 2000


class StrictBody(BaseModel):
    """A request body that refuses unknown fields."""

    model_config = ConfigDict(extra="forbid")


class Paged(BaseModel):
    """A list page: `next_cursor` asks for the next one (`?cursor=`), null on the last page."""

    next_cursor: str | None = Field(
        default=None,
        description="Gửi lại ở tham số `cursor` để lấy trang tiếp theo; null khi đây là trang cuối.",
        examples=[None],
    )


class Problem(BaseModel):
    """RFC 9457 problem details; `code` is stable, `title`/`detail` are Vietnamese."""

    type: str = Field(examples=["https://trolyao.gov.vn/problems/forbidden"])
    title: str = Field(examples=["Bạn không có quyền thực hiện thao tác này."])
    status: int = Field(examples=[403])
    code: str = Field(examples=["forbidden"])
    detail: str = Field(default="", examples=["Khóa API không được cấp quyền cho đơn vị này."])
    instance: str = Field(default="", examples=["/v1/units/cuc-bao-chi/ask"])
    error: dict[str, Any] | None = Field(
        default=None,
        description=(
            "Chỉ có ở các đường dẫn tương thích OpenAI (`/v1/chat/completions`, `/v1/models`): "
            "`{message, type, code}` để thư viện OpenAI hiển thị lỗi."
        ),
    )
