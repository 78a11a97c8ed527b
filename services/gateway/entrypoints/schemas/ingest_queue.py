"""The unit's ingest queue as the API shows it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class IngestQueueOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "unit": "cuc-bao-chi",
                    "waiting": 1832,
                    "interactive": 2,
                    "bulk": 1830,
                    "per_minute": 73.2,
                    "eta_seconds": 1502.0,
                    "message": "Đang xử lý 1.832 văn bản — dự kiến xong sau 26 phút",
                    "updated_at": "2026-12-04T06:00:00+00:00",
                }
            ]
        }
    )

    unit: str
    waiting: int = Field(description="Thay đổi (tải lên, cập nhật, xóa) đang chờ xử lý.")
    interactive: int = Field(description="Trong đó: tải lên qua cổng và sự kiện thường (được ưu tiên).")
    bulk: int = Field(description="Trong đó: nhập hàng loạt, lập chỉ mục lại.")
    per_minute: float = Field(description="Số thay đổi xử lý xong mỗi phút gần đây.")
    eta_seconds: float | None = Field(
        description="Số giây ước tính đến khi mọi thay đổi đang chờ tìm kiếm được; null: chưa ước tính được."
    )
    message: str = Field(description="Thông báo cho người dùng; rỗng khi không có gì đang chờ.")
    updated_at: str = Field(description="Thời điểm đọc hàng đợi (rỗng khi đơn vị chưa có hàng đợi).")
