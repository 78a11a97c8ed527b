"""Reports: a unit's answer rate and trend, its questions to work on, and the ministry-wide table."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from services.gateway.domain.authorization import Principal, Scope
from services.gateway.domain.calibration import DEFAULT_TARGET_WRONG_RATE
from services.gateway.domain.problems import INVALID_REQUEST, ApiProblem
from services.gateway.domain.reports import (
    DEFAULT_WINDOW_DAYS,
    MAX_WINDOW_DAYS,
    InvalidWindow,
    ProblemQuestion,
    TimeWindow,
    resolve_window,
)
from services.gateway.entrypoints.routing import (
    UNIT_PATH,
    PageCursor,
    RouteContext,
    paginate,
    problem_responses,
    refuse_unknown_query_parameters,
)
from services.gateway.entrypoints.schemas.reports import (
    AnswerRateOut,
    CalibrationOut,
    DailyRateOut,
    MinistryAnswerRatesOut,
    ProblemQuestionOut,
    QuestionGroupOut,
    QuestionGroupsOut,
    ThresholdRowOut,
    UnitAnswerRateOut,
)
from services.gateway.use_cases.quality_checks import TestedRate

TAG_REPORTS = "báo cáo"
RATE_DIGITS = 4
DEFAULT_GROUPS = 50
MAX_GROUPS = 500
DEFAULT_CALIBRATION_DAYS = 90
MIN_TARGET_WRONG_RATE = 0.001
MAX_TARGET_WRONG_RATE = 0.5

SINCE_QUERY = Query(
    description=(
        "Từ thời điểm (ISO 8601; không có múi giờ thì hiểu là UTC). "
        f"Mặc định: {DEFAULT_WINDOW_DAYS} ngày trước `until`."
    ),
    examples=["2026-11-01T00:00:00+07:00"],
)
UNTIL_QUERY = Query(
    description=f"Đến thời điểm (không tính), mặc định là hiện tại; khoảng tối đa {MAX_WINDOW_DAYS} ngày.",
    examples=["2026-12-01T00:00:00+07:00"],
)


def _window(since: datetime | None, until: datetime | None) -> TimeWindow:
    try:
        return resolve_window(since, until, now=datetime.now(UTC))
    except InvalidWindow as error:
        raise ApiProblem(
            INVALID_REQUEST,
            "Khoảng thời gian không hợp lệ: `since` phải trước `until` "
            f"và dài tối đa {MAX_WINDOW_DAYS} ngày.",
        ) from error


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, RATE_DIGITS)


def _tested(rate: TestedRate) -> dict[str, Any]:
    """The tested-rate fields of a report row."""
    return {
        "test_questions": rate.test_questions,
        "tested_correct_rate": _rate(rate.tested_correct_rate),
        "tested_answerable": rate.tested_answerable,
        "last_test_run_at": rate.last_test_run_at,
        "last_test_run_id": rate.last_test_run_id,
    }


def _problem_out(item: ProblemQuestion) -> ProblemQuestionOut:
    return ProblemQuestionOut(
        question_id=item.question_id,
        question=item.question,
        asked_at=item.asked_at.isoformat(),
        unanswered=item.unanswered,
        not_helpful=item.not_helpful,
        comment=item.comment,
    )


def build_router(ctx: RouteContext) -> APIRouter:
    """Routes under /v1/units/{unit}/reports and /v1/reports (unknown query parameters are 422)."""
    router = APIRouter()
    CurrentPrincipal = Annotated[Principal, Depends(ctx.principal)]
    gateway, require, require_unit = ctx.gateway, ctx.require, ctx.require_unit

    @router.get(
        "/v1/units/{unit}/reports/answer-rate",
        response_model=AnswerRateOut,
        tags=[TAG_REPORTS],
        summary="Tỉ lệ trả lời của đơn vị và xu hướng theo ngày",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def answer_rate(
        principal: CurrentPrincipal,
        request: Request,
        unit: Annotated[str, UNIT_PATH],
        since: Annotated[datetime | None, SINCE_QUERY] = None,
        until: Annotated[datetime | None, UNTIL_QUERY] = None,
    ) -> AnswerRateOut:
        """Tỉ lệ câu hỏi được trả lời (không từ chối) trong khoảng thời gian, so với ngưỡng 90% của
        Bộ, bên cạnh tỉ lệ đúng trên bộ câu hỏi kiểm tra của đơn vị (`tested_correct_rate`: chỉ tỉ lệ
        này cho biết trợ lý có thật sự đạt ngưỡng); số đánh giá hữu ích / chưa hữu ích và tỉ lệ hữu ích
        (`helpful_rate`); từng ngày (giờ Việt Nam) và xu hướng nửa sau so với nửa đầu, ví dụ
        `GET /v1/units/cuc-bao-chi/reports/answer-rate?since=2026-11-01T00:00:00%2B07:00`."""
        await require_unit(principal, unit, Scope.READ)
        refuse_unknown_query_parameters(request)
        window = _window(since, until)
        report = await gateway.answer_rate(unit, window)
        tested = await gateway.quality.tested_rates([unit])
        return AnswerRateOut(
            **_tested(tested[unit]),
            unit=unit,
            since=window.since.isoformat(),
            until=window.until.isoformat(),
            total=report.total,
            answered=report.answered,
            answer_rate=_rate(report.answer_rate),
            target=report.target,
            meets_target=report.meets_target,
            helpful=report.helpful,
            not_helpful=report.not_helpful,
            helpful_rate=_rate(report.helpful_rate),
            feedback_count=report.feedback_count,
            trend=report.trend,  # type: ignore[arg-type]
            change_points=report.change_points,
            daily=[
                DailyRateOut(
                    date=d.day.isoformat(),
                    total=d.total,
                    answered=d.answered,
                    answer_rate=_rate(d.answer_rate),
                )
                for d in report.daily
            ],
        )

    @router.get(
        "/v1/units/{unit}/reports/unanswered-questions",
        response_model=QuestionGroupsOut,
        tags=[TAG_REPORTS],
        summary="Câu hỏi chưa trả lời được hoặc bị đánh giá chưa hữu ích, gộp theo nhóm tương tự",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def unanswered_questions(
        principal: CurrentPrincipal,
        request: Request,
        unit: Annotated[str, UNIT_PATH],
        since: Annotated[datetime | None, SINCE_QUERY] = None,
        until: Annotated[datetime | None, UNTIL_QUERY] = None,
        limit: Annotated[
            int, Query(ge=1, le=MAX_GROUPS, description="Số nhóm tối đa.", examples=[20])
        ] = DEFAULT_GROUPS,
        cursor: PageCursor = None,
        include_closed: Annotated[
            bool,
            Query(
                description="Liệt kê cả các nhóm đã được một câu hỏi thường gặp trả lời (`closed_by_faq`)."
            ),
        ] = False,
    ) -> QuestionGroupsOut:
        """Những câu trợ lý từ chối trả lời và những câu bị đánh giá chưa hữu ích, gộp các cách hỏi
        giống nhau (so khớp từ không dấu) để đơn vị biết cần bổ sung tri thức gì trước: nhóm đông
        nhất trước, ví dụ "Lệ phí cấp giấy phép báo điện tử là bao nhiêu?" (12 lượt). Nhóm đã được
        trả lời bằng một câu hỏi thường gặp là đã xử lý: không còn trong danh sách (hoặc có
        `closed_by_faq` khi `include_closed=true`)."""
        await require_unit(principal, unit, Scope.READ)
        refuse_unknown_query_parameters(request)
        window = _window(since, until)
        gaps = [gap for gap in await gateway.knowledge_gaps(unit, window) if include_closed or not gap.closed]
        # Groups are ranked (largest first); a page resumes after the rank the cursor names.
        page = paginate(list(enumerate(gaps)), key=lambda ranked: (ranked[0],), limit=limit, cursor=cursor)
        return QuestionGroupsOut(
            unit=unit,
            since=window.since.isoformat(),
            until=window.until.isoformat(),
            total=sum(gap.group.count for gap in gaps),
            groups=[
                QuestionGroupOut(
                    representative=gap.group.representative,
                    count=gap.group.count,
                    unanswered=gap.group.unanswered,
                    not_helpful=gap.group.not_helpful,
                    last_asked_at=gap.group.last_asked_at.isoformat(),
                    examples=[_problem_out(item) for item in gap.group.examples],
                    closed_by_faq=gap.closed_by_faq,
                )
                for _, gap in page.items
            ],
            next_cursor=page.next_cursor,
        )

    @router.get(
        "/v1/units/{unit}/reports/calibration",
        response_model=CalibrationOut,
        tags=[TAG_REPORTS],
        summary="Ngưỡng tin cậy đang áp dụng và ngưỡng đề xuất theo đánh giá của cán bộ",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def calibration(
        principal: CurrentPrincipal,
        request: Request,
        unit: Annotated[str, UNIT_PATH],
        days: Annotated[
            int,
            Query(ge=1, le=MAX_WINDOW_DAYS, description="Số ngày gần nhất được tính.", examples=[90]),
        ] = DEFAULT_CALIBRATION_DAYS,
        target_wrong_rate: Annotated[
            float,
            Query(
                ge=MIN_TARGET_WRONG_RATE,
                le=MAX_TARGET_WRONG_RATE,
                description="Tỉ lệ câu trả lời sai (bị đánh giá chưa hữu ích) chấp nhận được.",
                examples=[0.05],
            ),
        ] = DEFAULT_TARGET_WRONG_RATE,
    ) -> CalibrationOut:
        """Với mỗi ngưỡng 0,05 … 0,95: trong các câu trả lời tổng hợp đã được đánh giá, bao nhiêu câu
        vẫn được trả lời và bao nhiêu câu bị đánh giá chưa hữu ích; ngưỡng đề xuất là ngưỡng thấp nhất
        mà tỉ lệ sai (cận trên 95%) không vượt `target_wrong_rate` và giữ lại ít nhất 10 câu. Cần ít
        nhất 30 đánh giá. Câu dưới ngưỡng đang áp dụng chưa từng được trả lời nên không có đánh giá:
        đề xuất thấp hơn ngưỡng hiện tại chỉ là ước lượng. Ví dụ
        `GET /v1/units/cuc-bao-chi/reports/calibration?days=90`; đặt ngưỡng bằng
        `PUT /v1/units/{unit}/answer-threshold`."""
        await require_unit(principal, unit, Scope.READ)
        refuse_unknown_query_parameters(request)
        window = resolve_window(None, None, now=datetime.now(UTC), default_days=days)
        info, result = await gateway.calibration(unit, window, target_wrong_rate=target_wrong_rate)
        return CalibrationOut(
            unit=unit,
            since=window.since.isoformat(),
            until=window.until.isoformat(),
            min_confidence=info.min_confidence,
            target_wrong_rate=target_wrong_rate,
            rated=result.rated,
            suggested=result.suggested,
            reason=result.reason,  # type: ignore[arg-type]
            rows=[
                ThresholdRowOut(
                    threshold=row.threshold,
                    answered=row.answered,
                    wrong=row.wrong,
                    wrong_rate=_rate(row.wrong_rate) or 0.0,
                    wrong_rate_upper=_rate(row.wrong_rate_upper) or 0.0,
                )
                for row in result.rows
            ],
        )

    @router.get(
        "/v1/reports/answer-rates",
        response_model=MinistryAnswerRatesOut,
        tags=[TAG_REPORTS],
        summary="Bảng tỉ lệ trả lời của mọi đơn vị so với ngưỡng 90%",
        responses=problem_responses(401, 403, 422, 429, 503),
    )
    async def ministry_answer_rates(
        principal: CurrentPrincipal,
        request: Request,
        since: Annotated[datetime | None, SINCE_QUERY] = None,
        until: Annotated[datetime | None, UNTIL_QUERY] = None,
    ) -> MinistryAnswerRatesOut:
        """Một dòng cho mỗi đơn vị của Bộ (thấp nhất trước; đơn vị chưa có câu hỏi ở cuối) với tỉ lệ
        trả lời và việc đạt ngưỡng 90%, bên cạnh tỉ lệ đúng trên bộ câu hỏi kiểm tra của đơn vị
        (`tested_correct_rate`, số câu hỏi kiểm tra, thời điểm kiểm tra gần nhất) và tỉ lệ hữu ích theo
        đánh giá của cán bộ (`helpful_rate`, `feedback_count`); chỉ thông tin xác thực cấp Bộ được
        xem. Tỉ lệ trả lời chỉ đếm câu không bị từ chối (câu trả lời sai vẫn được tính); đánh giá thưa
        và đến muộn; chỉ tỉ lệ đúng trên câu hỏi kiểm tra cho biết trợ lý có thật sự đạt ngưỡng hay
        không."""
        require(principal, None, Scope.READ)
        refuse_unknown_query_parameters(request)
        window = _window(since, until)
        table = await gateway.ministry_answer_rates(window)
        tested = await gateway.quality.tested_rates([row.unit for row in table.units])
        return MinistryAnswerRatesOut(
            since=window.since.isoformat(),
            until=window.until.isoformat(),
            target=table.target,
            total=table.total,
            answered=table.answered,
            answer_rate=_rate(table.answer_rate),
            units_meeting_target=table.count(True),
            units_below_target=table.count(False),
            units_without_questions=table.count(None),
            units=[
                UnitAnswerRateOut(
                    unit=row.unit,
                    name=row.name,
                    total=row.total,
                    answered=row.answered,
                    answer_rate=_rate(row.answer_rate),
                    meets_target=row.meets_target,
                    helpful_rate=_rate(row.helpful_rate),
                    feedback_count=row.feedback_count,
                    **_tested(tested[row.unit]),
                )
                for row in table.units
            ],
        )

    return router


__all__ = ["build_router"]
