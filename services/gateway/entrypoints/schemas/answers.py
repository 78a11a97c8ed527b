"""Request and response bodies of asking and of feedback on answers (`routes_answers`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.gateway.domain.conversations import CONVERSATION_ID_PATTERN
from services.gateway.entrypoints.schemas.common import MAX_QUESTION_CHARS

MAX_ANSWER_CHARS = 4000
MAX_HISTORY_TURNS = 20


class ConversationTurn(BaseModel):
    question: str = Field(
        max_length=MAX_QUESTION_CHARS, examples=["Doanh thu năm 2023 của công ty là bao nhiêu?"]
    )
    answer: str = Field(
        default="", max_length=MAX_ANSWER_CHARS, examples=["Doanh thu năm 2023 đạt 1.200 tỷ đồng."]
    )


class AskIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"question": "Bộ trưởng yêu cầu trợ lý ảo phải trả lời được bao nhiêu phần trăm câu hỏi?"},
                {"question": "còn lợi nhuận thì sao?", "conversation_id": "3f9a1c2b7d4e4f60a1b2c3d4e5f60718"},
            ]
        }
    )
    question: str = Field(
        min_length=1,
        max_length=MAX_QUESTION_CHARS,
        pattern=r"\S",
        description="Câu hỏi bằng tiếng Việt (có hoặc không dấu).",
    )
    history: list[ConversationTurn] = Field(
        default_factory=list,
        max_length=MAX_HISTORY_TURNS,
        description=(
            "Các lượt hỏi đáp trước, cũ nhất trước — chỉ dùng khi cổng tự giữ hội thoại; "
            "nếu có, thay cho lịch sử hệ thống nhớ theo `conversation_id`."
        ),
    )
    conversation_id: str | None = Field(
        default=None,
        pattern=CONVERSATION_ID_PATTERN,
        description=(
            'Mã hội thoại trả về ở câu trả lời trước: câu hỏi tiếp theo ("còn lợi nhuận thì sao?") được hiểu '
            "theo các lượt trước. Bỏ trống để bắt đầu hội thoại mới. Hội thoại gắn với đơn vị và thông tin "
            "xác thực, được nhớ 24 giờ kể từ lượt cuối."
        ),
        examples=["3f9a1c2b7d4e4f60a1b2c3d4e5f60718"],
    )


class CitationOut(BaseModel):
    document_id: str = Field(examples=["mic-giao-ban-2024-06"])
    title: str = Field(examples=["Hội nghị giao ban quản lý nhà nước tháng 6/2024"])
    snippet: str = Field(examples=["...trợ lý ảo phải trả lời được 90% câu hỏi."])
    path: str = Field(default="", examples=["Điều 5, Khoản 2"])
    number: str = Field(default="", examples=["13/2023/NĐ-CP"])
    source_url: str = ""
    chunk_ordinal: int = 0
    score: float = 0.0
    role: str = Field(
        default="answer",
        description="answer: đoạn câu trả lời dựa vào; related: đoạn liên quan; "
        "closest: nội dung gần nhất khi trợ lý từ chối trả lời.",
        examples=["answer"],
    )
    passage: str = Field(default="", description="Toàn văn đoạn được trích (xem ngữ cảnh).")
    question: str = Field(
        default="",
        description="Với đoạn hỏi đáp (câu hỏi thường gặp): câu hỏi mà đoạn trả lời.",
        examples=["Thời hạn cấp giấy phép là bao lâu?"],
    )


class AskOut(BaseModel):
    answered: bool = Field(description="false: trợ lý từ chối trả lời vì chưa có thông tin.")
    answer: str = Field(
        examples=[
            "Trưởng các đơn vị phải bắt tay vào làm thật sự, vì để có thể dùng được thì trợ lý ảo "
            "phải trả lời được 90% câu hỏi."
        ]
    )
    citations: list[CitationOut]
    confidence: float = Field(ge=0.0, le=1.0, examples=[0.87])
    answer_source: str = Field(description="faq | extractive | generative | none", examples=["extractive"])
    question_id: str = Field(
        description="Mã câu hỏi, dùng khi gửi đánh giá (`/feedback`).",
        examples=["4f0c2a9e-2d7b-4e53-9d5e-0c3f1f2b9a10"],
    )
    conversation_id: str = Field(
        default="",
        description="Mã hội thoại; gửi lại ở câu hỏi tiếp theo để hỏi nối tiếp.",
        examples=["3f9a1c2b7d4e4f60a1b2c3d4e5f60718"],
    )


# ---------------------------------------------------------------- feedback


class FeedbackIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "question_id": "4f0c2a9e-2d7b-4e53-9d5e-0c3f1f2b9a10",
                    "helpful": False,
                    "comment": "Câu trả lời chưa nêu lệ phí cấp phép.",
                }
            ]
        }
    )
    question_id: str = Field(
        pattern=r"^[A-Za-z0-9_-]{1,100}$", description="`question_id` của câu trả lời được đánh giá."
    )
    helpful: bool = Field(description="true: hữu ích; false: chưa hữu ích.")
    comment: str = Field(default="", max_length=2000, description="Góp ý thêm (không bắt buộc).")


class FeedbackOut(BaseModel):
    question_id: str = Field(examples=["4f0c2a9e-2d7b-4e53-9d5e-0c3f1f2b9a10"])
    helpful: bool = Field(examples=[False])
    recorded_at: str = Field(examples=["2026-11-27T08:00:00.000+00:00"])
