"""Request and response bodies of the public API, with Vietnamese examples for the OpenAPI docs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.gateway.domain.conversations import CONVERSATION_ID_PATTERN
from services.gateway.entrypoints.schemas_quality import TestedRateOut

MAX_QUESTION_CHARS = 2000
MAX_ANSWER_CHARS = 4000
MAX_HISTORY_TURNS = 20


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
        gt=0.0,
        lt=1.0,
        description="Ngưỡng tin cậy (lớn hơn 0, nhỏ hơn 1): câu trả lời tổng hợp có độ tin cậy thấp hơn "
        "sẽ bị từ chối. null: quay về ngưỡng mặc định của hệ thống. "
        "Câu hỏi thường gặp (FAQ) không bị ảnh hưởng.",
    )


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


class HealthOut(BaseModel):
    status: str = Field(examples=["ok"])


class ReadinessOut(BaseModel):
    ready: bool
    dependencies: dict[str, dict[str, Any]] = Field(
        examples=[{"nats": {"ready": True, "reason": "sẵn sàng"}}]
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


class FaqList(BaseModel):
    entries: list[FaqOut]


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


# ---------------------------------------------------------------- reports


class DailyRateOut(BaseModel):
    date: str = Field(description="Ngày (giờ Việt Nam), YYYY-MM-DD.", examples=["2026-11-27"])
    total: int = Field(examples=[42])
    answered: int = Field(examples=[39])
    answer_rate: float | None = Field(description="null khi ngày đó không có câu hỏi.", examples=[0.929])


class AnswerRateOut(TestedRateOut):
    unit: str = Field(examples=["cuc-bao-chi"])
    since: str = Field(examples=["2026-10-28T08:00:00+00:00"])
    until: str = Field(examples=["2026-11-27T08:00:00+00:00"])
    total: int = Field(description="Số câu hỏi trong khoảng thời gian.", examples=[1250])
    answered: int = Field(examples=[1150])
    answer_rate: float | None = Field(
        description="answered / total; null khi chưa có câu hỏi.", examples=[0.92]
    )
    target: float = Field(description="Ngưỡng của Bộ.", examples=[0.9])
    meets_target: bool | None = Field(examples=[True])
    helpful: int = Field(description="Số câu trả lời được đánh giá hữu ích.", examples=[310])
    not_helpful: int = Field(examples=[12])
    trend: Literal["up", "down", "flat", "unknown"] = Field(
        description="Xu hướng: nửa sau so với nửa đầu khoảng thời gian (tăng/giảm quá 1 điểm phần trăm).",
        examples=["up"],
    )
    change_points: float | None = Field(
        description="Chênh lệch (điểm phần trăm), nửa sau − nửa đầu.", examples=[2.5]
    )
    daily: list[DailyRateOut]


class ProblemQuestionOut(BaseModel):
    question_id: str = Field(examples=["4f0c2a9e-2d7b-4e53-9d5e-0c3f1f2b9a10"])
    question: str = Field(examples=["Lệ phí cấp giấy phép báo điện tử là bao nhiêu?"])
    asked_at: str = Field(examples=["2026-11-27T08:00:00+00:00"])
    unanswered: bool = Field(description="Trợ lý đã từ chối trả lời.")
    not_helpful: bool = Field(description="Câu trả lời bị đánh giá chưa hữu ích.")
    comment: str = ""


class QuestionGroupOut(BaseModel):
    representative: str = Field(
        description="Cách hỏi gặp nhiều nhất trong nhóm.",
        examples=["Lệ phí cấp giấy phép báo điện tử là bao nhiêu?"],
    )
    count: int = Field(examples=[12])
    unanswered: int = Field(examples=[10])
    not_helpful: int = Field(examples=[2])
    last_asked_at: str = Field(examples=["2026-11-27T08:00:00+00:00"])
    examples: list[ProblemQuestionOut] = Field(description="Vài câu hỏi mới nhất của nhóm.")


class QuestionGroupsOut(BaseModel):
    unit: str = Field(examples=["cuc-bao-chi"])
    since: str
    until: str
    total: int = Field(
        description="Số câu hỏi chưa được trả lời hoặc bị đánh giá chưa hữu ích.", examples=[14]
    )
    groups: list[QuestionGroupOut]


class UnitAnswerRateOut(TestedRateOut):
    unit: str = Field(examples=["cuc-bao-chi"])
    name: str = Field(examples=["Cục Báo chí"])
    total: int = Field(examples=[1250])
    answered: int = Field(examples=[1150])
    answer_rate: float | None = Field(examples=[0.92])
    meets_target: bool | None = Field(description="null khi đơn vị chưa có câu hỏi.", examples=[True])


class MinistryAnswerRatesOut(BaseModel):
    since: str
    until: str
    target: float = Field(examples=[0.9])
    total: int = Field(examples=[40210])
    answered: int = Field(examples=[36500])
    answer_rate: float | None = Field(examples=[0.908])
    units_meeting_target: int = Field(examples=[25])
    units_below_target: int = Field(examples=[7])
    units_without_questions: int = Field(examples=[2])
    units: list[UnitAnswerRateOut] = Field(description="Mỗi đơn vị một dòng, tỉ lệ thấp nhất trước.")


# ---------------------------------------------------------------- API keys


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "Cổng thông tin Cục Báo chí", "units": ["cuc-bao-chi"], "scopes": ["read"]}]
        }
    )
    name: str = Field(min_length=1, max_length=200, description="Ai dùng khóa này (để quản lý).")
    units: list[str] = Field(default_factory=list, max_length=100, description="Các đơn vị khóa được dùng.")
    all_units: bool = Field(default=False, description="Dùng cho mọi đơn vị (cấp Bộ).")
    scopes: list[Literal["read", "write", "admin"]] = Field(
        min_length=1,
        max_length=3,
        description="read: hỏi đáp, xem; write: cập nhật văn bản; admin: quản trị.",
    )


class ApiKeyOut(BaseModel):
    key_id: str = Field(examples=["4e2f9a1b3c5d"])
    api_key: str = Field(description="Khóa bí mật, chỉ hiển thị một lần.", examples=["tly_4e2f9a1b3c5d_..."])
    name: str = Field(examples=["Cổng thông tin Cục Báo chí"])
    units: list[str] = Field(examples=[["cuc-bao-chi"]])
    all_units: bool = False
    scopes: list[str] = Field(examples=[["read"]])


# ---------------------------------------------------------------- OpenAI-compatible


class ChatContentPart(BaseModel):
    type: str = Field(examples=["text"])
    text: str | None = Field(default=None, max_length=MAX_QUESTION_CHARS * 2)


class ChatMessageIn(BaseModel):
    role: str = Field(
        max_length=32, description="system | user | assistant (khác bị bỏ qua).", examples=["user"]
    )
    content: str | list[ChatContentPart] | None = Field(
        default=None, description="Nội dung văn bản (chuỗi hoặc các phần `type: text`)."
    )
    name: str | None = Field(default=None, max_length=64)


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "cuc-bao-chi",
                    "messages": [
                        {"role": "user", "content": "Doanh thu năm 2023 của công ty là bao nhiêu?"},
                        {"role": "assistant", "content": "Doanh thu năm 2023 đạt 1.200 tỷ đồng."},
                        {"role": "user", "content": "còn lợi nhuận thì sao?"},
                    ],
                    "stream": False,
                }
            ]
        }
    )
    model: str = Field(
        min_length=1,
        max_length=64,
        description="Mã đơn vị (mỗi đơn vị là một “mô hình”).",
        examples=["cuc-bao-chi"],
    )
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=100)
    stream: bool | None = Field(default=False, description="true: trả về từng phần qua Server-Sent Events.")
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, max_length=256)


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str = Field(examples=["Lợi nhuận năm 2023 đạt 150 tỷ đồng."])
    refusal: None = None
    citations: list[CitationOut] = Field(
        default_factory=list, description="Phần mở rộng của trolyao: nguồn trích dẫn của câu trả lời."
    )


class ChatChoiceOut(BaseModel):
    index: int = 0
    message: ChatMessageOut
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class UsageOut(BaseModel):
    prompt_tokens: int = Field(examples=[24])
    completion_tokens: int = Field(examples=[12])
    total_tokens: int = Field(examples=[36])


class TrolyaoExtension(BaseModel):
    answered: bool = Field(description="false: trợ lý từ chối trả lời vì chưa có thông tin.")
    confidence: float = Field(ge=0.0, le=1.0, examples=[0.87])
    answer_source: str = Field(examples=["extractive"])
    question_id: str = Field(examples=["4f0c2a9e-2d7b-4e53-9d5e-0c3f1f2b9a10"])


class ChatCompletionOut(BaseModel):
    id: str = Field(examples=["chatcmpl-4f0c2a9e2d7b4e539d5e0c3f1f2b9a10"])
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(examples=[1732694400])
    model: str = Field(examples=["cuc-bao-chi"])
    choices: list[ChatChoiceOut]
    usage: UsageOut
    system_fingerprint: str | None = None
    trolyao: TrolyaoExtension = Field(
        description="Phần mở rộng: trạng thái trả lời và mã câu hỏi (để đánh giá)."
    )


class ModelOut(BaseModel):
    id: str = Field(examples=["cuc-bao-chi"])
    object: Literal["model"] = "model"
    created: int = Field(examples=[1732694400])
    owned_by: str = Field(examples=["trolyao"])
    name: str = Field(default="", description="Tên đơn vị.", examples=["Cục Báo chí"])


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class ThresholdRowOut(BaseModel):
    threshold: float = Field(examples=[0.6])
    answered: int = Field(
        description="Số câu trả lời đã được đánh giá có độ tin cậy ≥ ngưỡng.", examples=[120]
    )
    wrong: int = Field(description="Trong số đó, số câu bị đánh giá chưa hữu ích.", examples=[3])
    wrong_rate: float = Field(examples=[0.025])
    wrong_rate_upper: float = Field(
        description="Cận trên (Wilson, độ tin cậy 95%) của tỉ lệ sai.", examples=[0.071]
    )


class CalibrationOut(BaseModel):
    unit: str = Field(examples=["cuc-bao-chi"])
    since: str = Field(examples=["2026-08-29T08:00:00+00:00"])
    until: str = Field(examples=["2026-11-27T08:00:00+00:00"])
    min_confidence: float | None = Field(
        description="Ngưỡng đang áp dụng cho đơn vị; null là ngưỡng mặc định của hệ thống.", examples=[None]
    )
    target_wrong_rate: float = Field(description="Tỉ lệ trả lời sai chấp nhận được.", examples=[0.05])
    rated: int = Field(
        description="Số câu trả lời tổng hợp (không tính FAQ và câu từ chối) đã được đánh giá.",
        examples=[240],
    )
    suggested: float | None = Field(
        description="Ngưỡng đề xuất: ngưỡng thấp nhất mà cận trên tỉ lệ sai không vượt mục tiêu; "
        "null khi chưa đủ đánh giá hoặc không ngưỡng nào đạt.",
        examples=[0.55],
    )
    reason: Literal["ok", "too_few_ratings", "target_unreachable"] = Field(
        description="`ok`; `too_few_ratings` (cần ít nhất 30 đánh giá); `target_unreachable` "
        "(không ngưỡng nào đạt mục tiêu).",
        examples=["ok"],
    )
    rows: list[ThresholdRowOut] = Field(
        description="Mỗi ngưỡng 0,05 … 0,95 sẽ giữ lại bao nhiêu câu, sai bao nhiêu."
    )
