"""Request and response bodies of the document and FAQ routes (`routes_documents`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.gateway.domain.faq import FaqEntry
from services.gateway.entrypoints.schemas.common import MAX_QUESTION_CHARS, Paged
from services.gateway.entrypoints.schemas.ingest_queue import IngestQueueOut


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
        default=None,
        ge=1,
        le=2**62,
        description="Phiên bản tăng dần; bỏ trống để hệ thống tự gán theo thời gian.",
    )
    metadata: dict[str, str] = Field(
        default_factory=dict,
        description="number (số hiệu), issuer, issued_date, effective_date, doc_type, source_url.",
    )


class DocumentStatusOut(BaseModel):
    unit: str = Field(examples=["cuc-bao-chi"])
    document_id: str = Field(examples=["nd-13-2023"])
    status: str = Field(
        description="queued (đang chờ xử lý, kèm vị trí trong hàng đợi) | indexed | failed | deleted",
        examples=["indexed"],
    )
    version: int = Field(examples=[1732694400000000])
    title: str = ""
    filename: str = ""
    chunk_count: int = 0
    code: str = Field(default="", description="Mã lỗi khi status = failed.", examples=[""])
    reason: str = Field(default="", description="Lý do (tiếng Việt) khi status = failed.")
    updated_at: str = ""
    queue_position: int | None = Field(
        default=None,
        description="Khi status = queued: vị trí của thay đổi trong hàng đợi của đơn vị (1 = kế tiếp), "
        "ước tính từ số thứ tự khi nhận và số thay đổi đã xử lý xong; null khi chưa biết.",
        examples=[12],
    )
    queue_lane: str = Field(
        default="",
        description="Khi status = queued: `interactive` (tải lên thông thường, được xử lý trước) hoặc "
        "`bulk` (nhập hàng loạt, đứng sau mọi thay đổi `interactive` của đơn vị).",
        examples=["interactive"],
    )
    queue: IngestQueueOut | None = Field(
        default=None,
        description="Khi status = queued: hàng đợi của đơn vị (số thay đổi đang chờ, thời gian ước tính).",
    )


class DocumentList(Paged):
    documents: list[DocumentStatusOut]
    queue: IngestQueueOut | None = Field(
        default=None, description="Hàng đợi xử lý của đơn vị: số thay đổi đang chờ và thời gian ước tính."
    )


# ---------------------------------------------------------------- FAQ


class FaqIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "question": "Thời hạn cấp giấy phép hoạt động báo chí điện tử là bao lâu?",
                    "answer": "30 ngày kể từ ngày nhận đủ hồ sơ hợp lệ.",
                    "alternative_questions": ["Bao lâu thì được cấp phép báo điện tử?"],
                    "category": "Cấp phép",
                    "basis": "Điều 18 Luật Báo chí 2016",
                }
            ]
        }
    )
    question: str = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS, pattern=r"\S", description="Câu hỏi chính."
    )
    answer: str = Field(min_length=1, max_length=20_000, pattern=r"\S", description="Câu trả lời được duyệt.")
    alternative_questions: list[Annotated[str, StringConstraints(max_length=MAX_QUESTION_CHARS)]] = Field(
        default_factory=list, max_length=20, description="Các cách hỏi khác của cùng câu hỏi."
    )
    category: str = Field(default="", max_length=200, description="Chủ đề / lĩnh vực.")
    basis: str = Field(default="", max_length=1000, description="Căn cứ pháp lý / nguồn.")

    def to_entry(self, unit: str, faq_id: str) -> FaqEntry:
        """The unit's FAQ entry `faq_id` as written (texts trimmed, empty phrasings dropped)."""
        return FaqEntry(
            unit=unit,
            faq_id=faq_id,
            question=self.question.strip(),
            answer=self.answer.strip(),
            alternative_questions=tuple(q.strip() for q in self.alternative_questions if q.strip()),
            category=self.category.strip(),
            basis=self.basis.strip(),
        )


class FaqOut(BaseModel):
    faq_id: str = Field(examples=["a1b2c3d4e5f6"])
    document_id: str = Field(
        description="Văn bản tương ứng trong chỉ mục (`faq-<faq_id>`).", examples=["faq-a1b2c3d4e5f6"]
    )
    question: str = Field(examples=["Thời hạn cấp giấy phép hoạt động báo chí điện tử là bao lâu?"])
    answer: str = Field(examples=["30 ngày kể từ ngày nhận đủ hồ sơ hợp lệ."])
    alternative_questions: list[str] = Field(default_factory=list)
    category: str = ""
    basis: str = ""
    version: int = Field(examples=[1732694400000000])
    status: str = Field(description="pending | indexed | failed | deleted", examples=["indexed"])
    reason: str = Field(default="", description="Lý do (tiếng Việt) khi status = failed.")
    created_at: str = Field(default="", examples=["2026-11-27T08:00:00.000+00:00"])
    updated_at: str = Field(default="", examples=["2026-11-27T08:00:00.000+00:00"])


class FaqList(Paged):
    entries: list[FaqOut]
