"""Request and response bodies of the unit routes (`routes_units`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from trolyao.units import HIGHEST_MIN_CONFIDENCE, LOWEST_MIN_CONFIDENCE


class UnitIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Cục Báo chí"}]})
    name: str = Field(min_length=1, max_length=200, description="Tên đầy đủ của đơn vị.")


class UnitOut(BaseModel):
    unit_id: str = Field(examples=["cuc-bao-chi"])
    name: str = Field(examples=["Cục Báo chí"])
    created_at: str = Field(examples=["2026-11-27T08:00:00+00:00"])
    updated_at: str = Field(examples=["2026-11-27T08:00:00+00:00"])
    min_confidence: float | None = Field(
        default=None,
        description="Ngưỡng tin cậy riêng của đơn vị: dưới ngưỡng này trợ lý từ chối trả lời; "
        "null là dùng ngưỡng mặc định của hệ thống.",
        examples=[0.62],
    )


class AnswerThresholdIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"min_confidence": 0.62}, {"min_confidence": None}]}
    )
    min_confidence: float | None = Field(
        ge=LOWEST_MIN_CONFIDENCE,  # what the 32-bit wire type carries strictly between 0 and 1
        le=HIGHEST_MIN_CONFIDENCE,
        description="Ngưỡng tin cậy (lớn hơn 0, nhỏ hơn 1, tối đa 0,99999994): câu trả lời tổng hợp "
        "có độ tin cậy thấp hơn sẽ bị từ chối. null: quay về ngưỡng mặc định của hệ thống. "
        "Câu hỏi thường gặp (FAQ) không bị ảnh hưởng.",
    )


class UnitList(BaseModel):
    units: list[UnitOut]


class UnitDeletedOut(BaseModel):
    unit_id: str = Field(examples=["cuc-bao-chi"])
    snapshot_id: str = Field(
        description="Bản chụp của đơn vị lấy ngay trước khi xóa (rỗng khi gọi với `snapshot=false`).",
        examples=["20261127T080000Z-cuc-bao-chi"],
    )
    documents: int = Field(description="Số văn bản chỉ mục của đơn vị đã chứa.", examples=[12])
    chunks: int = Field(description="Số đoạn đã bị gỡ khỏi chỉ mục.", examples=[340])
    originals: int = Field(description="Số bản gốc đã xóa khỏi kho lưu trữ.", examples=[14])
    api_keys_deleted: int = Field(description="Khóa API chỉ gắn với đơn vị này, đã bị xóa.", examples=[2])
    api_keys_narrowed: int = Field(
        description="Khóa API gắn với cả đơn vị khác: chỉ bỏ đơn vị này khỏi phạm vi.", examples=[0]
    )
