"""Asking a unit's assistant (whole answer or Server-Sent Events) and feedback on answers."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.sse import EventSourceResponse, ServerSentEvent

from services.gateway.domain.authorization import Principal, Scope
from services.gateway.domain.chat import answer_pieces
from services.gateway.domain.model import AnsweredQuestion
from services.gateway.entrypoints.routing import (
    UNIT_PATH,
    RouteContext,
    problem_responses,
    sse_json,
    sse_response_doc,
)
from services.gateway.entrypoints.schemas.answers import AskIn, AskOut, CitationOut, FeedbackIn, FeedbackOut

TAG_ASK = "hỏi đáp"
TAG_FEEDBACK = "đánh giá"
EVENT_META = "meta"
EVENT_DELTA = "delta"
EVENT_DONE = "done"

_SSE_EXAMPLE = (
    'event: meta\ndata: {"question_id":"4f0c2a9e-2d7b-4e53-9d5e-0c3f1f2b9a10",'
    '"conversation_id":"3f9a1c2b7d4e4f60a1b2c3d4e5f60718"}\n\n'
    'event: delta\ndata: {"text":"Thời hạn cấp giấy phép là 30 ngày "}\n\n'
    'event: delta\ndata: {"text":"kể từ ngày nhận đủ hồ sơ hợp lệ."}\n\n'
    'event: done\ndata: {"answered":true,"answer":"Thời hạn cấp giấy phép là 30 ngày kể từ ngày '
    "nhận đủ hồ sơ "
    'hợp lệ.","citations":[{"document_id":"quy-che-cap-phep","title":"Quy chế cấp phép",...}],...}\n\n'
)


def ask_out(result: AnsweredQuestion) -> AskOut:
    """The API view of an answer."""
    answer = result.answer
    return AskOut(
        answered=answer.answered,
        answer=answer.text,
        confidence=answer.confidence,
        answer_source=answer.source,
        question_id=result.question_id,
        conversation_id=result.conversation_id,
        citations=[
            CitationOut(
                document_id=c.document_id,
                title=c.title,
                snippet=c.snippet,
                path=c.path,
                number=c.number,
                source_url=c.source_url,
                chunk_ordinal=c.chunk_ordinal,
                score=c.score,
                role=c.role,
                passage=c.passage,
                question=c.question,
            )
            for c in answer.citations
        ],
    )


def build_router(ctx: RouteContext) -> APIRouter:
    """Routes /v1/units/{unit}/ask, /ask/stream and /feedback."""
    router = APIRouter()
    CurrentPrincipal = Annotated[Principal, Depends(ctx.principal)]
    gateway, require_unit = ctx.gateway, ctx.require_unit

    async def answer(
        principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH], body: AskIn
    ) -> AnsweredQuestion:
        """The answer (a dependency of both routes, so errors leave before a stream starts)."""
        await require_unit(principal, unit, Scope.READ)
        return await gateway.ask(
            principal,
            unit,
            body.question.strip(),
            history=[(turn.question, turn.answer) for turn in body.history],
            conversation_id=body.conversation_id,
        )

    @router.post(
        "/v1/units/{unit}/ask",
        response_model=AskOut,
        tags=[TAG_ASK],
        summary="Hỏi trợ lý ảo của đơn vị",
        responses=problem_responses(401, 403, 404, 413, 422, 429, 503),
    )
    async def ask(result: Annotated[AnsweredQuestion, Depends(answer)]) -> AskOut:
        """Trả lời từ tri thức của đơn vị kèm trích dẫn nguồn, hoặc `answered: false` khi chưa có
        thông tin (không bịa). Gửi lại `conversation_id` của câu trả lời trước để hỏi nối tiếp:
        "Doanh thu năm 2023 là bao nhiêu?" rồi "còn lợi nhuận thì sao?"."""
        return ask_out(result)

    @router.post(
        "/v1/units/{unit}/ask/stream",
        tags=[TAG_ASK],
        summary="Hỏi trợ lý ảo, nhận câu trả lời dạng luồng (SSE)",
        response_class=EventSourceResponse,
        responses={
            **sse_response_doc(
                "Luồng Server-Sent Events: `meta` (mã câu hỏi, mã hội thoại), nhiều `delta` (từng đoạn câu "
                "trả lời), rồi `done` (toàn bộ câu trả lời như `/ask`, kèm trích dẫn).",
                _SSE_EXAMPLE,
            ),
            **problem_responses(401, 403, 404, 413, 422, 429, 503),
        },
    )
    async def ask_stream(
        result: Annotated[AnsweredQuestion, Depends(answer)],
    ) -> AsyncIterator[ServerSentEvent]:
        """Như `/ask` nhưng trả về `text/event-stream` để giao diện hiện câu trả lời dần dần. Lỗi
        (quyền, đơn vị không tồn tại, dịch vụ tạm ngừng) trả về problem+json trước khi luồng bắt đầu."""
        out = ask_out(result)
        yield sse_json({"question_id": out.question_id, "conversation_id": out.conversation_id}, EVENT_META)
        for piece in answer_pieces(out.answer):
            yield sse_json({"text": piece}, EVENT_DELTA)
        yield sse_json(out.model_dump(), EVENT_DONE)

    @router.post(
        "/v1/units/{unit}/feedback",
        response_model=FeedbackOut,
        status_code=202,
        tags=[TAG_FEEDBACK],
        summary="Đánh giá một câu trả lời",
        responses=problem_responses(401, 403, 404, 413, 422, 429, 503),
    )
    async def feedback(
        principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH], body: FeedbackIn
    ) -> FeedbackOut:
        """Hữu ích / chưa hữu ích (kèm góp ý) cho câu trả lời có `question_id`; đánh giá sau cùng của
        mỗi câu được tính vào báo cáo, và câu bị đánh giá chưa hữu ích xuất hiện trong danh sách cần
        cải thiện. `question_id` phải thuộc đơn vị này (404 nếu không)."""
        await require_unit(principal, unit, Scope.READ)
        recorded_at = await gateway.submit_feedback(
            principal, unit, body.question_id, helpful=body.helpful, comment=body.comment.strip()
        )
        return FeedbackOut(question_id=body.question_id, helpful=body.helpful, recorded_at=recorded_at)

    return router


__all__ = ["ask_out", "build_router"]
