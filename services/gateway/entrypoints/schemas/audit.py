"""Response bodies of the audit-trail routes (`routes_audit`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.gateway.entrypoints.schemas.common import Paged


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


class AuditPageOut(Paged):
    events: list[AuditEventOut]
    next_after: int = Field(
        description="Truyền vào `after` (cùng `order`) để lấy trang tiếp theo theo đúng thứ tự đã chọn."
    )
    more: bool
