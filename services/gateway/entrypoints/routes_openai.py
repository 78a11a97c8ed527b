"""OpenAI-compatible chat: `POST /v1/chat/completions` (model = unit id) and `GET /v1/models`.

Existing chat front ends and the official `openai` client work unchanged, streamed or not.
Extensions, documented in the OpenAPI schema: `citations` on the message (non-streamed) or on the
last chunk's `delta` (streamed), and a top-level `trolyao` object with `answered`, `confidence`,
`answer_source` and `question_id` (for feedback).
"""

import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.sse import ServerSentEvent

from services.gateway.domain.authorization import Principal, Scope
from services.gateway.domain.chat import (
    ChatMessage,
    EmptyTranscript,
    answer_pieces,
    estimate_tokens,
    question_and_history,
)
from services.gateway.domain.model import AnsweredQuestion
from services.gateway.domain.problems import INVALID_REQUEST, MODEL_NOT_FOUND, UNIT_NOT_FOUND, ApiProblem
from services.gateway.entrypoints.routes_answers import ask_out
from services.gateway.entrypoints.routing import (
    RouteContext,
    problem_responses,
    sse_json,
    sse_response_doc,
    sse_stream,
)
from services.gateway.entrypoints.schemas.answers import MAX_HISTORY_TURNS
from services.gateway.entrypoints.schemas.common import MAX_QUESTION_CHARS
from services.gateway.entrypoints.schemas.openai import (
    ChatChoiceOut,
    ChatCompletionIn,
    ChatCompletionOut,
    ChatMessageIn,
    ChatMessageOut,
    ModelList,
    ModelOut,
    TrolyaoExtension,
    UsageOut,
)
from trolyao.messaging import UNIT_ID_PATTERN

TAG_OPENAI = "tương thích OpenAI"
OWNED_BY = "trolyao"
CHUNK_OBJECT = "chat.completion.chunk"
DONE_MARKER = "[DONE]"

_STREAM_EXAMPLE = (
    'data: {"id":"chatcmpl-4f0c","object":"chat.completion.chunk","created":1732694400,"model":"cuc-bao-chi",'
    '"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n'
    'data: {"id":"chatcmpl-4f0c","object":"chat.completion.chunk","created":1732694400,"model":"cuc-bao-chi",'
    '"choices":[{"index":0,"delta":{"content":"Lợi nhuận năm 2023 đạt 150 tỷ đồng."},'
    '"finish_reason":null}]}\n\n'
    'data: {"id":"chatcmpl-4f0c","object":"chat.completion.chunk","created":1732694400,"model":"cuc-bao-chi",'
    '"choices":[{"index":0,"delta":{"citations":[{"document_id":"bao-cao-2023",'
    '"title":"Báo cáo tài chính 2023",'
    '"snippet":"...lợi nhuận 150 tỷ đồng..."}]},"finish_reason":"stop"}],"trolyao":{"answered":true,...}}\n\n'
    "data: [DONE]\n\n"
)


def _text(message: ChatMessageIn) -> str:
    if isinstance(message.content, str):
        return message.content
    if message.content is None:
        return ""
    return "\n".join(part.text or "" for part in message.content if part.type == "text")


def build_router(ctx: RouteContext) -> APIRouter:
    """Routes /v1/chat/completions, /v1/models and /v1/models/{model}."""
    router = APIRouter()
    CurrentPrincipal = Annotated[Principal, Depends(ctx.principal)]
    gateway, require = ctx.gateway, ctx.require

    @router.post(
        "/v1/chat/completions",
        response_model=ChatCompletionOut,
        tags=[TAG_OPENAI],
        summary="Hội thoại kiểu OpenAI (model = mã đơn vị)",
        responses={
            **sse_response_doc(
                "Khi `stream: true`: các khối `chat.completion.chunk` theo định dạng OpenAI, khối cuối có "
                "`delta.citations` và `finish_reason: stop`, rồi `data: [DONE]`.",
                _STREAM_EXAMPLE,
            ),
            **problem_responses(401, 403, 404, 413, 422, 429, 503),
        },
    )
    async def chat_completions(principal: CurrentPrincipal, body: ChatCompletionIn) -> Any:
        """Tương thích `POST /v1/chat/completions` của OpenAI: `model` là mã đơn vị, tin nhắn
        `user` cuối là câu hỏi, các lượt trước là ngữ cảnh ("còn lợi nhuận thì sao?" được hiểu theo
        câu hỏi trước). Trả lời kèm nguồn ở trường mở rộng `citations` của `message`; `trolyao`
        cho biết trợ lý có trả lời hay từ chối (`answered`) và `question_id` để đánh giá."""
        unit = body.model
        require(principal, unit, Scope.READ)
        if not UNIT_ID_PATTERN.match(unit):
            raise ApiProblem(MODEL_NOT_FOUND)
        try:
            question, history = question_and_history(
                [ChatMessage(role=m.role, content=_text(m)) for m in body.messages],
                max_turns=MAX_HISTORY_TURNS,
            )
        except EmptyTranscript as error:
            raise ApiProblem(INVALID_REQUEST, "Cần ít nhất một tin nhắn `user` có nội dung.") from error
        if len(question) > MAX_QUESTION_CHARS:
            raise ApiProblem(INVALID_REQUEST, f"Câu hỏi dài quá {MAX_QUESTION_CHARS} ký tự.")
        try:
            result = await gateway.ask(principal, unit, question, history=history, remember=False)
        except ApiProblem as problem:
            if problem.kind is UNIT_NOT_FOUND:
                raise ApiProblem(MODEL_NOT_FOUND) from problem
            raise
        completion_id = "chatcmpl-" + uuid.uuid4().hex
        created = int(time.time())
        prompt_tokens = estimate_tokens(question) + sum(estimate_tokens(q + " " + a) for q, a in history)
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return sse_stream(
                _chunks(
                    result,
                    completion_id=completion_id,
                    created=created,
                    prompt_tokens=prompt_tokens,
                    include_usage=include_usage,
                )
            )
        answer = ask_out(result)
        completion_tokens = estimate_tokens(answer.answer)
        return ChatCompletionOut(
            id=completion_id,
            created=created,
            model=unit,
            choices=[
                ChatChoiceOut(message=ChatMessageOut(content=answer.answer, citations=answer.citations))
            ],
            usage=UsageOut(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
            ),
            trolyao=_extension(result),
        )

    @router.get(
        "/v1/models",
        response_model=ModelList,
        tags=[TAG_OPENAI],
        summary="Các “mô hình” (đơn vị) được dùng",
        responses=problem_responses(401, 403, 429, 503),
    )
    async def list_models(principal: CurrentPrincipal) -> ModelList:
        """Tương thích `GET /v1/models` của OpenAI: mỗi đơn vị mà thông tin xác thực được dùng là
        một mô hình, `id` là mã đơn vị (ví dụ `cuc-bao-chi`)."""
        require(
            principal, None if principal.all_units else next(iter(sorted(principal.units)), ""), Scope.READ
        )
        units = await gateway.backends.list_units()
        return ModelList(
            data=[
                ModelOut(id=u.unit_id, created=_epoch(u.created_at), owned_by=OWNED_BY, name=u.name)
                for u in units
                if principal.all_units or u.unit_id in principal.units
            ]
        )

    @router.get(
        "/v1/models/{model}",
        response_model=ModelOut,
        tags=[TAG_OPENAI],
        summary="Xem một “mô hình” (đơn vị)",
        responses=problem_responses(401, 403, 404, 429, 503),
    )
    async def get_model(
        principal: CurrentPrincipal,
        model: Annotated[str, Path(max_length=64, description="Mã đơn vị.", examples=["cuc-bao-chi"])],
    ) -> ModelOut:
        """Tương thích `GET /v1/models/{model}` của OpenAI, ví dụ `GET /v1/models/cuc-bao-chi`."""
        require(principal, model, Scope.READ)
        if not UNIT_ID_PATTERN.match(model):
            raise ApiProblem(MODEL_NOT_FOUND)
        try:
            unit = await gateway.backends.get_unit(model)
        except ApiProblem as problem:
            if problem.kind is UNIT_NOT_FOUND:
                raise ApiProblem(MODEL_NOT_FOUND) from problem
            raise
        return ModelOut(id=unit.unit_id, created=_epoch(unit.created_at), owned_by=OWNED_BY, name=unit.name)

    return router


def _extension(result: AnsweredQuestion) -> TrolyaoExtension:
    return TrolyaoExtension(
        answered=result.answer.answered,
        confidence=result.answer.confidence,
        answer_source=result.answer.source,
        question_id=result.question_id,
    )


def _chunks(
    result: AnsweredQuestion, *, completion_id: str, created: int, prompt_tokens: int, include_usage: bool
) -> Iterator[ServerSentEvent]:
    """The OpenAI chunk sequence: role, content pieces, citations with finish_reason, [usage], [DONE]."""
    answer = ask_out(result)

    def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> ServerSentEvent:
        body = {
            "id": completion_id,
            "object": CHUNK_OBJECT,
            "created": created,
            "model": result.unit,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
            **extra,
        }
        return sse_json(body)

    yield chunk({"role": "assistant", "content": ""})
    for piece in answer_pieces(answer.answer):
        yield chunk({"content": piece})
    citations = [c.model_dump() for c in answer.citations]
    yield chunk({"citations": citations}, "stop", trolyao=_extension(result).model_dump())
    if include_usage:
        completion_tokens = estimate_tokens(answer.answer)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        yield sse_json(
            {
                "id": completion_id,
                "object": CHUNK_OBJECT,
                "created": created,
                "model": result.unit,
                "choices": [],
                "usage": usage,
            }
        )
    yield sse_json(DONE_MARKER)


def _epoch(stamp: str) -> int:
    try:
        return int(datetime.fromisoformat(stamp).timestamp())
    except ValueError:
        return 0


__all__ = ["build_router"]
