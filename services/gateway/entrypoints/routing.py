"""What every route module shares: the use cases, the one authentication dependency, the one
authorisation check, path parameters and the documented error responses."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.sse import EventSourceResponse, ServerSentEvent, format_sse_event
from starlette.datastructures import FormData, UploadFile

from services.gateway.domain.authorization import Principal, Scope
from services.gateway.domain.faq import FAQ_ID_PATTERN
from services.gateway.domain.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_CURSOR_CHARS,
    MAX_PAGE_SIZE,
    InvalidCursor,
    Item,
    Page,
    SortKey,
    decode_cursor,
    page_after,
)
from services.gateway.domain.problems import INVALID_REQUEST, ApiProblem
from services.gateway.entrypoints.schemas.common import Problem
from services.gateway.service import Gateway
from trolyao.messaging import UNIT_ID_PATTERN

SSE_MEDIA_TYPE = "text/event-stream"
# What FastAPI's SSE routes send too: no caching, and no buffering by nginx-like proxies.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
MAX_FORM_FIELDS = 10

UNIT_PATH = Path(
    pattern=UNIT_ID_PATTERN.pattern, description="Mã đơn vị, ví dụ `cuc-bao-chi`.", examples=["cuc-bao-chi"]
)
FAQ_PATH = Path(pattern=FAQ_ID_PATTERN, description="Mã câu hỏi thường gặp.", examples=["le-phi-cap-phep"])

_PROBLEM_DESCRIPTIONS = {
    401: "Thiếu hoặc sai thông tin xác thực.",
    403: "Thông tin xác thực không có quyền với đơn vị hoặc thao tác này.",
    404: "Không tìm thấy đơn vị hoặc tài nguyên.",
    409: "Xung đột phiên bản.",
    413: "Nội dung gửi lên quá lớn.",
    422: "Dữ liệu gửi lên không hợp lệ.",
    429: "Vượt giới hạn tần suất; xem tiêu đề `Retry-After`.",
    503: "Phụ thuộc (retrieval, ops, NATS) tạm thời không phục vụ được; xem `Retry-After`.",
}
STANDARD_PROBLEMS = (401, 403, 404, 413, 422, 429, 503)

PAGE_LIMIT_QUERY = Query(
    ge=1, le=MAX_PAGE_SIZE, description=f"Số mục tối đa của một trang (1–{MAX_PAGE_SIZE})."
)
PAGE_CURSOR_QUERY = Query(
    max_length=MAX_CURSOR_CHARS,
    description="`next_cursor` của trang trước; bỏ trống để lấy trang đầu.",
)
INVALID_CURSOR_DETAIL = "Con trỏ phân trang (cursor) không hợp lệ."
PageLimit = Annotated[int, PAGE_LIMIT_QUERY]
PageCursor = Annotated[str | None, PAGE_CURSOR_QUERY]


def paginate(
    items: Sequence[Item],
    *,
    key: Callable[[Item], SortKey],
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    descending: bool = False,
) -> Page[Item]:
    """One page of a list (`domain.pagination.page_after`); a cursor this API did not make is 422."""
    try:
        return page_after(items, key=key, limit=limit, cursor=cursor, descending=descending)
    except InvalidCursor as error:
        raise ApiProblem(INVALID_REQUEST, INVALID_CURSOR_DETAIL) from error


def cursor_position(cursor: str) -> SortKey:
    """What a cursor made by `paginate` (or `encode_cursor`) points after; 422 for any other."""
    try:
        return decode_cursor(cursor)
    except InvalidCursor as error:
        raise ApiProblem(INVALID_REQUEST, INVALID_CURSOR_DETAIL) from error


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem+json responses an operation can give."""
    return {
        status: {"model": Problem, "description": _PROBLEM_DESCRIPTIONS[status]}
        for status in statuses or STANDARD_PROBLEMS
    }


def _query_parameter_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_parameter_names(dependency)
    return names


def refuse_unknown_query_parameters(request: Request) -> None:
    """422 for a query parameter the route does not declare (call it after authorisation): `?days=7`
    on a route that reads `since`/`until` would otherwise be silently ignored and answer the wrong
    question."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = _query_parameter_names(dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        accepted = ", ".join(sorted(known)) or "không có"
        raise ApiProblem(
            INVALID_REQUEST,
            f"Tham số truy vấn không được hỗ trợ: {', '.join(unknown)} (tham số hợp lệ: {accepted}).",
        )


def client_address(request: Request) -> str:
    """The peer address as the gateway sees it (behind a proxy: configure uvicorn's forwarded-allow-ips)."""
    return request.client.host if request.client else ""


SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "description": "Loại sự kiện, ví dụ `meta`, `delta`, `done`."},
        "data": {"type": "string", "contentMediaType": "application/json", "description": "JSON một dòng."},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
    "required": ["data"],
}


def sse_response_doc(description: str, example: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entry of a Server-Sent Events response."""
    return {
        200: {
            "description": description,
            # One event is `itemSchema` (OpenAPI 3.2's keyword, which FastAPI already writes for an
            # event stream); beside it a `schema` would describe the whole stream, and validators
            # (schemathesis' ST108) would read the list of events against a one-event schema.
            "content": {SSE_MEDIA_TYPE: {"itemSchema": SSE_EVENT_SCHEMA, "example": example}},
        }
    }


def sse_json(data: Any, event: str | None = None) -> ServerSentEvent:
    """One Server-Sent Event carrying JSON on one line (compact, Vietnamese letters as they are);
    a plain string (OpenAI's `[DONE]`) is sent as it is."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return ServerSentEvent(raw_data=payload, event=event)


def sse_stream(events: Iterable[ServerSentEvent]) -> EventSourceResponse:
    """FastAPI's `text/event-stream` response for a route that answers JSON or a stream as the
    request asks (chat completions); events are framed by FastAPI's own SSE encoder. A route that
    always streams is a generator with `response_class=EventSourceResponse` instead."""

    async def body() -> AsyncIterator[bytes]:
        for event in events:
            yield format_sse_event(data_str=event.raw_data, event=event.event)

    return EventSourceResponse(body(), headers=SSE_HEADERS)


async def uploaded_file(request: Request) -> tuple[FormData, UploadFile, bytes]:
    """The multipart form, its one file (field `file`) and the file's bytes; 422 when missing or empty."""
    form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiProblem(INVALID_REQUEST, "Thiếu tệp trong trường 'file'.")
    data = await upload.read()
    if not data:
        raise ApiProblem(INVALID_REQUEST, "Tệp tải lên rỗng.")
    return form, upload, data


@dataclass(frozen=True, slots=True)
class RouteContext:
    """Handed to every route module by `create_app`.

    `principal` is the single authentication dependency and `require` the single authorisation
    check (it calls `domain.authorization.authorize`); every route uses both.
    """

    gateway: Gateway
    principal: Callable[..., Awaitable[Principal]]
    require: Callable[[Principal, str | None, Scope], None]
    # The clock access tokens are judged by (step-up freshness); tests give it a fake one.
    clock: Callable[[], float] = time.time

    async def require_unit(self, principal: Principal, unit: str, scope: Scope) -> None:
        """`require`, then 404 (`unit_not_found`) unless the unit exists: every route under
        `/v1/units/{unit}/…` answers an unknown unit the same way, after authorisation (so a
        credential learns nothing about units it may not reach)."""
        self.require(principal, unit, scope)
        await self.gateway.ensure_unit(unit)


__all__ = [
    "FAQ_PATH",
    "INVALID_CURSOR_DETAIL",
    "SSE_MEDIA_TYPE",
    "STANDARD_PROBLEMS",
    "UNIT_PATH",
    "PageCursor",
    "PageLimit",
    "RouteContext",
    "client_address",
    "cursor_position",
    "paginate",
    "problem_responses",
    "refuse_unknown_query_parameters",
    "sse_json",
    "sse_response_doc",
    "sse_stream",
    "uploaded_file",
]
