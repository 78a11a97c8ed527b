"""Request and response bodies of the test-question and test-run routes (OpenAPI, with examples)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.gateway.domain.quality import (
    MAX_DOCUMENT_ID_CHARS,
    MAX_EXPECTED_CHARS,
    MAX_QUESTION_CHARS,
    MAX_SECTION_CHARS,
)
from services.gateway.entrypoints.schemas.documents import FaqIn

VerdictName = Literal["right", "wrong", "refused", "too_long"]
TriggerName = Literal["manual", "schedule", "change"]
RunStatusName = Literal["running", "done", "failed"]
RATE_DESCRIPTION = (
    "Số câu trả lời đúng ÷ số câu hỏi có đáp án (không tính câu phải từ chối); câu sai, quá dài hoặc "
    "bị từ chối đều là không đạt. null khi không có câu hỏi có đáp án."
)


class TestedRateOut(BaseModel):
    """A unit's tested figures beside its answered rate in the reports."""

    test_questions: int = Field(default=0, description="Số câu hỏi kiểm tra của đơn vị.", examples=[120])
    tested_correct_rate: float | None = Field(
        default=None,
        description="Tỉ lệ đúng ở lượt kiểm tra gần nhất: câu trả lời đúng ÷ câu hỏi kiểm tra có đáp án (câu "
        "sai, quá dài hay bị từ chối đều không đạt). Chỉ tỉ lệ này cho biết trợ lý có thật sự đạt ngưỡng "
        "90% hay không; null khi đơn vị chưa có câu hỏi kiểm tra hoặc chưa chạy kiểm tra.",
        examples=[0.93],
    )
    tested_answerable: int | None = Field(
        default=None,
        description="Số câu hỏi có đáp án ở lượt kiểm tra gần nhất (mẫu số của tỉ lệ đúng; câu phải từ chối "
        "không tính). Tỉ lệ trên 5 câu trở xuống chỉ là mẫu thử, chưa đủ để kết luận.",
        examples=[112],
    )
    last_test_run_at: str | None = Field(
        default=None,
        description="Thời điểm kết thúc lượt kiểm tra gần nhất.",
        examples=["2026-12-04T08:00:00.000+00:00"],
    )
    last_test_run_id: str | None = Field(
        default=None,
        description="Mã lượt kiểm tra gần nhất (xem các câu hồi quy ở `GET …/test-runs/{run_id}`).",
        examples=["1733300000000-a1b2c3"],
    )


class TestQuestionIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "question": "Khi nào tắt sóng 2G?",
                    "expected_answer": "15/9/2024",
                    "expected_document_id": "tb-tat-song-2g",
                },
                {"question": "Giá vé máy bay Hà Nội – Đà Nẵng là bao nhiêu?", "must_refuse": True},
            ]
        }
    )
    question: str = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS, pattern=r"\S", description="Câu hỏi như người dân hỏi."
    )
    expected_answer: str = Field(
        default="",
        max_length=MAX_EXPECTED_CHARS,
        description="Đoạn chữ câu trả lời phải chứa (so khớp sau khi chuẩn hóa Unicode NFC, chữ hoa/thường, "
        "khoảng trắng).",
    )
    expected_document_id: str = Field(
        default="", max_length=MAX_DOCUMENT_ID_CHARS, description="Mã văn bản câu trả lời phải trích dẫn."
    )
    expected_section: str = Field(
        default="",
        max_length=MAX_SECTION_CHARS,
        description="Điều/khoản của văn bản đó phải được trích dẫn, ví dụ `Điều 5`.",
    )
    must_refuse: bool = Field(
        default=False, description="Câu hỏi nằm ngoài tri thức của đơn vị: trợ lý phải từ chối trả lời."
    )
    ignore_diacritics: bool = Field(
        default=False, description="So khớp đáp án mong đợi không phân biệt dấu tiếng Việt."
    )


class TestQuestionOut(TestQuestionIn):
    question_id: str = Field(examples=["tat-song-2g"])
    created_at: str = Field(default="", examples=["2026-12-04T08:00:00.000+00:00"])
    updated_at: str = Field(default="", examples=["2026-12-04T08:00:00.000+00:00"])


class TestQuestionPage(BaseModel):
    unit: str = Field(examples=["cuc-vien-thong"])
    total: int = Field(description="Tổng số câu hỏi kiểm tra của đơn vị.", examples=[120])
    offset: int = Field(examples=[0])
    limit: int = Field(examples=[50])
    questions: list[TestQuestionOut]


class RowProblemOut(BaseModel):
    line: int = Field(description="Số dòng trong bảng tính (dòng tiêu đề là dòng 1).", examples=[17])
    reason: str = Field(examples=["Thiếu nội dung câu hỏi."])


class TestQuestionImportOut(BaseModel):
    unit: str = Field(examples=["cuc-vien-thong"])
    imported: int = Field(description="Số dòng hợp lệ đã lưu (mới hoặc thay thế).", examples=[497])
    created: int = Field(examples=[497])
    updated: int = Field(examples=[0])
    rejected: int = Field(description="Số dòng bị bỏ qua.", examples=[3])
    problems: list[RowProblemOut] = Field(description="Từng dòng bị bỏ qua, kèm số dòng và lý do.")


class CitedSourceOut(BaseModel):
    document_id: str = Field(examples=["tb-tat-song-2g"])
    title: str = ""
    path: str = Field(default="", description="Vị trí trong văn bản (Chương/Điều/Khoản).")


class TestResultOut(BaseModel):
    question_id: str
    question: str
    must_refuse: bool
    verdict: VerdictName = Field(description="right | wrong | refused | too_long")
    reason: str = Field(description="Lý do của kết luận (tiếng Việt).")
    answered: bool
    answer: str
    confidence: float
    citations: list[CitedSourceOut]


class KnowledgeChangeOut(BaseModel):
    document_id: str = Field(examples=["tb-tat-song-2g"])
    version: int = Field(examples=[1733300000000000])
    status: str = Field(description="indexed | deleted", examples=["indexed"])
    updated_at: str = ""


class RegressionOut(BaseModel):
    question_id: str
    question: str
    previous_verdict: VerdictName
    verdict: VerdictName
    reason: str
    previous_run_id: str
    changes: list[KnowledgeChangeOut] = Field(
        description="Thay đổi tri thức giữa hai lượt kiểm tra; văn bản mà câu trả lời trích dẫn đứng trước."
    )


class TestRunSummaryOut(BaseModel):
    run_id: str = Field(examples=["1733300000000-a1b2c3"])
    unit: str = Field(examples=["cuc-vien-thong"])
    status: RunStatusName = Field(description="running | done | failed")
    trigger: TriggerName = Field(
        description="manual (chạy theo yêu cầu) | schedule (theo lịch) | change (sau khi tri thức thay đổi)"
    )
    started_at: str
    finished_at: str | None = None
    question_count: int
    correct_rate: float | None = Field(description=RATE_DESCRIPTION, examples=[0.93])
    answerable: int = Field(description="Số câu hỏi có đáp án (không phải câu phải từ chối).")
    correct: int
    wrong: int = Field(description="Số câu trả lời sai (kể cả câu quá dài).")
    refused: int = Field(description="Số câu có đáp án mà trợ lý từ chối.")
    too_long: int = Field(description="Số câu có đáp án nhưng dài quá 400 ký tự (tính trong `wrong`).")
    must_refuse: int = Field(description="Số câu phải từ chối.")
    must_refuse_right: int = Field(description="Số câu phải từ chối mà trợ lý đã từ chối.")
    regression_count: int
    previous_run_id: str = ""
    reason: str = Field(default="", description="Lý do khi status = failed.")


class TestRunOut(TestRunSummaryOut):
    regressions: list[RegressionOut] = Field(
        description="Câu đúng ở lượt trước nhưng không đúng ở lượt này, kèm thay đổi tri thức giữa hai lượt."
    )
    changes: list[KnowledgeChangeOut] = Field(description="Thay đổi tri thức kể từ lượt trước.")
    results: list[TestResultOut]


MAX_SPOT_CHECK_QUESTIONS = 50


class PromoteIn(FaqIn):
    """A real question from the gap list, the FAQ entry staff write for it, and what its test checks."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "question": "Bộ phận một cửa làm việc lúc mấy giờ?",
                    "answer": "Bộ phận một cửa làm việc từ 7 giờ 30 đến 17 giờ, thứ Hai đến thứ Sáu.",
                    "alternative_questions": ["Giờ làm việc của bộ phận một cửa?"],
                    "expected_answer": "7 giờ 30",
                }
            ]
        }
    )
    expected_answer: str = Field(
        default="",
        max_length=MAX_EXPECTED_CHARS,
        description="Đoạn chữ câu trả lời phải chứa khi kiểm tra (không bắt buộc: câu hỏi kiểm tra luôn đòi "
        "trích dẫn câu hỏi thường gặp vừa tạo).",
    )


class SpotCheckIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "questions": [
                        {"question": "Khi nào sẽ tắt sóng 2G theo quy định?", "expected_answer": "15/9/2024"},
                        {"question": "Giá vé máy bay Hà Nội – Đà Nẵng là bao nhiêu?", "must_refuse": True},
                    ]
                }
            ]
        }
    )
    questions: list[TestQuestionIn] = Field(
        min_length=1, max_length=MAX_SPOT_CHECK_QUESTIONS, description="Các câu hỏi tự soạn (không được lưu)."
    )


class SpotCheckOut(BaseModel):
    unit: str
    correct_rate: float | None = Field(description=RATE_DESCRIPTION)
    answerable: int
    correct: int
    wrong: int
    refused: int
    too_long: int
    must_refuse: int
    must_refuse_right: int
    results: list[TestResultOut]


class PromotedOut(BaseModel):
    faq_id: str = Field(
        description="Mã câu hỏi thường gặp mới (`GET …/faq/{faq_id}`).", examples=["a1b2c3d4e5f6"]
    )
    document_id: str = Field(description="Văn bản tương ứng trong chỉ mục.", examples=["faq-a1b2c3d4e5f6"])
    status: str = Field(
        description="Trạng thái lập chỉ mục: pending | indexed | failed.", examples=["pending"]
    )
    test_question: TestQuestionOut = Field(
        description="Câu hỏi kiểm tra mới, cùng mã, đòi trích dẫn câu hỏi thường gặp đó."
    )


class TestRunPage(BaseModel):
    unit: str
    total: int
    offset: int
    limit: int
    runs: list[TestRunSummaryOut] = Field(description="Mới nhất trước.")


__all__ = [
    "CitedSourceOut",
    "KnowledgeChangeOut",
    "PromoteIn",
    "PromotedOut",
    "RegressionOut",
    "RowProblemOut",
    "SpotCheckIn",
    "SpotCheckOut",
    "TestQuestionImportOut",
    "TestQuestionIn",
    "TestQuestionOut",
    "TestQuestionPage",
    "TestResultOut",
    "TestRunOut",
    "TestRunPage",
    "TestRunSummaryOut",
    "TestedRateOut",
]
