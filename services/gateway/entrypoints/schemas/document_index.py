"""Response bodies of the routes over a document as the index holds it (`routes_document_index`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ChunkOut(BaseModel):
    """One indexed passage of a document."""

    ordinal: int = Field(description="Thứ tự đoạn trong văn bản; khớp `chunk_ordinal` của trích dẫn.")
    text: str = Field(examples=["Thời hạn cấp giấy phép là 30 ngày kể từ ngày nhận đủ hồ sơ hợp lệ."])
    path: str = Field(default="", examples=["Chương II, Điều 5, Khoản 2"])
    kind: str = Field(description="passage | faq", examples=["passage"])
    question: str = Field(default="", description="Với đoạn hỏi–đáp: câu hỏi (và các cách hỏi khác).")


class DocumentChunksOut(BaseModel):
    """A document's metadata and its passages, as indexed."""

    unit: str = Field(examples=["cuc-bao-chi"])
    document_id: str = Field(examples=["nd-13-2023"])
    version: int = Field(examples=[1732694400000000])
    title: str = Field(default="", examples=["Nghị định 13/2023/NĐ-CP về bảo vệ dữ liệu cá nhân"])
    number: str = Field(default="", examples=["13/2023/NĐ-CP"])
    issuer: str = ""
    issued_date: str = ""
    effective_date: str = ""
    doc_type: str = ""
    source_url: str = ""
    chunks: list[ChunkOut]
