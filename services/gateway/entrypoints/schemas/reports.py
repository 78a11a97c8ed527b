"""Response bodies of the report routes: answer rate, questions to work on, the ministry-wide table
and the answer-threshold calibration (`routes_reports`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from services.gateway.entrypoints.schemas.common import Paged
from services.gateway.entrypoints.schemas.quality import TestedRateOut


class DailyRateOut(BaseModel):
    date: str = Field(description="Ngày (giờ Việt Nam), YYYY-MM-DD.", examples=["2026-11-27"])
    total: int = Field(examples=[42])
    answered: int = Field(examples=[39])
    answer_rate: float | None = Field(description="null khi ngày đó không có câu hỏi.", examples=[0.929])


class HelpfulRateOut(BaseModel):
    """Staff's ratings of a unit's answers, beside its answered and tested rates."""

    helpful_rate: float | None = Field(
        default=None,
        description="Tỉ lệ câu trả lời được cán bộ đánh giá hữu ích ÷ số câu trả lời đã được đánh giá "
        "(đánh giá mới nhất của mỗi câu hỏi hỏi trong khoảng thời gian). Đánh giá thưa và đến muộn: "
        "chỉ là tín hiệu, không cho biết đơn vị có đạt ngưỡng 90% hay không. null khi chưa có đánh giá.",
        examples=[0.94],
    )
    feedback_count: int = Field(default=0, description="Số câu trả lời đã được đánh giá.", examples=[322])


class AnswerRateOut(TestedRateOut, HelpfulRateOut):
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
    closed_by_faq: str | None = Field(
        default=None,
        description="Mã câu hỏi thường gặp đã trả lời nhóm này (nhóm đã xử lý); `null` khi nhóm còn mở. "
        "Nhóm được coi là đã xử lý khi một câu hỏi thường gặp (câu chính hoặc cách hỏi khác) trùng cách "
        "hỏi của nhóm và được lưu sau lần hỏi cuối; hỏi lại mà vẫn chưa trả lời được thì nhóm mở lại.",
        examples=[None, "faq-le-phi"],
    )


class QuestionGroupsOut(Paged):
    unit: str = Field(examples=["cuc-bao-chi"])
    since: str
    until: str
    total: int = Field(
        description="Số câu hỏi chưa được trả lời hoặc bị đánh giá chưa hữu ích trong các nhóm được liệt kê "
        "(chỉ nhóm còn mở, trừ khi `include_closed=true`).",
        examples=[14],
    )
    groups: list[QuestionGroupOut]


class UnitAnswerRateOut(TestedRateOut, HelpfulRateOut):
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


# ---------------------------------------------------------------- calibration


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
