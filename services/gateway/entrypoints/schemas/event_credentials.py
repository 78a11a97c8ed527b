"""Bodies of `/v1/units/{unit}/event-credentials` (units' NATS event credentials)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.gateway.entrypoints.schemas.common import Paged


class EventCredentialOut(BaseModel):
    """A unit's event credential as listed: never its secret."""

    credential_id: str = Field(description="Mã thông tin xác thực.", examples=["4e2f9a1b3c5d"])
    unit: str = Field(description="Đơn vị được phép phát sự kiện.", examples=["cuc-bao-chi"])
    nats_user: str = Field(
        description="Tên người dùng NATS (trả lời đến hộp thư `_INBOX.<nats_user>`).",
        examples=["unit-cuc-bao-chi-4e2f9a1b3c5d"],
    )
    originals_bucket: str = Field(
        description="Kho đối tượng nơi đơn vị tải bản gốc lên.", examples=["originals_cuc-bao-chi"]
    )
    issued_at: str = Field(description="Thời điểm cấp (UTC).", examples=["2026-12-04T08:30:00.000Z"])
    issued_by: str = Field(description="Người cấp (khóa API hoặc tài khoản).", examples=["nguyen.van.a"])
    revoked_at: str = Field(description="Thời điểm thu hồi; rỗng khi còn hiệu lực.", examples=[""])
    active: bool = Field(description="Còn dùng được.", examples=[True])


class EventCredentialIssuedOut(EventCredentialOut):
    """A new credential with its password: shown only in this answer, kept nowhere."""

    password: str = Field(description="Mật khẩu NATS — chỉ hiển thị một lần; hãy lưu vào kho bí mật ngay.")
    inbox_prefix: str = Field(
        description="Tiền tố hộp thư trả lời phải dùng khi kết nối.",
        examples=["_INBOX.unit-cuc-bao-chi-4e2f9a1b3c5d"],
    )


class EventCredentialList(Paged):
    credentials: list[EventCredentialOut]
