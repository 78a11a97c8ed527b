"""Request and response bodies of the public API, with Vietnamese examples for the OpenAPI docs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Problem(BaseModel):
    """RFC 9457 problem details; `code` is stable, `title`/`detail` are Vietnamese."""

    type: str = Field(examples=["https://trolyao.gov.vn/problems/forbidden"])
    title: str = Field(examples=["Bạn không có quyền thực hiện thao tác này."])
    status: int = Field(examples=[403])
    code: str = Field(examples=["forbidden"])
    detail: str = Field(default="", examples=["Khóa API không được cấp quyền cho đơn vị này."])
    instance: str = Field(default="", examples=["/v1/units/cuc-bao-chi/ask"])


class UnitIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Cục Báo chí"}]})
    name: str = Field(min_length=1, max_length=200, description="Tên đầy đủ của đơn vị.")


class UnitOut(BaseModel):
    unit_id: str = Field(examples=["cuc-bao-chi"])
    name: str = Field(examples=["Cục Báo chí"])
    created_at: str = Field(examples=["2026-11-27T08:00:00+00:00"])
    updated_at: str = Field(examples=["2026-11-27T08:00:00+00:00"])


class UnitList(BaseModel):
    units: list[UnitOut]


class DocumentIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Nghị định 13/2023/NĐ-CP về bảo vệ dữ liệu cá nhân",
                    "text": "Điều 1. Phạm vi điều chỉnh\nNghị định này quy định về bảo vệ dữ liệu cá nhân...",
                    "metadata": {"number": "13/2023/NĐ-CP", "issuer": "Chính phủ", "doc_type": "Nghị định"},
                }
            ]
        }
    )
    title: str = Field(default="", max_length=1000, description="Tiêu đề văn bản.")
    text: str = Field(min_length=1, description="Toàn văn văn bản (UTF-8).")
    version: int | None = Field(
        default=None, ge=1, le=2**62, description="Phiên bản tăng dần; bỏ trống để hệ thống tự gán theo thời gian."
    )
    metadata: dict[str, str] = Field(
        default_factory=dict,
        description="number (số hiệu), issuer, issued_date, effective_date, doc_type, source_url.",
    )


class DocumentStatusOut(BaseModel):
    unit: str = Field(examples=["cuc-bao-chi"])
    document_id: str = Field(examples=["nd-13-2023"])
    status: str = Field(description="pending | indexed | failed | deleted", examples=["indexed"])
    version: int = Field(examples=[1732694400000000])
    title: str = ""
    filename: str = ""
    chunk_count: int = 0
    code: str = Field(default="", description="Mã lỗi khi status = failed.", examples=[""])
    reason: str = Field(default="", description="Lý do (tiếng Việt) khi status = failed.")
    updated_at: str = ""


class DocumentList(BaseModel):
    documents: list[DocumentStatusOut]


class ConversationTurn(BaseModel):
    question: str = Field(max_length=2000)
    answer: str = Field(default="", max_length=4000)


class AskIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"question": "Bộ trưởng yêu cầu trợ lý ảo phải trả lời được bao nhiêu phần trăm câu hỏi?"}]}
    )
    question: str = Field(min_length=1, max_length=2000, description="Câu hỏi bằng tiếng Việt (có hoặc không dấu).")
    history: list[ConversationTurn] = Field(
        default_factory=list, max_length=20, description="Các lượt hỏi đáp trước, cũ nhất trước."
    )
    conversation_id: str | None = Field(default=None, max_length=100)


class CitationOut(BaseModel):
    document_id: str = Field(examples=["mic-giao-ban-2024-06"])
    title: str = Field(examples=["Hội nghị giao ban quản lý nhà nước tháng 6/2024"])
    snippet: str = Field(examples=["...trợ lý ảo phải trả lời được 90% câu hỏi."])
    path: str = Field(default="", examples=["Điều 5, Khoản 2"])
    number: str = Field(default="", examples=["13/2023/NĐ-CP"])
    source_url: str = ""
    chunk_ordinal: int = 0
    score: float = 0.0


class AskOut(BaseModel):
    answered: bool = Field(description="false: trợ lý từ chối trả lời vì chưa có thông tin.")
    answer: str = Field(examples=["Trưởng các đơn vị phải bắt tay vào làm thật sự, vì để có thể dùng được thì trợ lý ảo phải trả lời được 90% câu hỏi."])
    citations: list[CitationOut]
    confidence: float = Field(ge=0.0, le=1.0, examples=[0.87])
    answer_source: str = Field(description="faq | extractive | generative | none", examples=["extractive"])
    question_id: str = Field(examples=["4f0c2a9e-2d7b-4e53-9d5e-0c3f1f2b9a10"])


class HealthOut(BaseModel):
    status: str = Field(examples=["ok"])


class ReadinessOut(BaseModel):
    ready: bool
    dependencies: dict[str, dict[str, Any]] = Field(
        examples=[{"nats": {"ready": True, "reason": "sẵn sàng"}}]
    )
