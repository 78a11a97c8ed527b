"""What every route module shares: the use cases, the one authentication dependency, the one
authorisation check, path parameters and the documented error responses."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import Path, Request
from fastapi.responses import StreamingResponse
from starlette.datastructures import FormData, UploadFile

from services.gateway.domain.authorization import Principal, Scope
from services.gateway.domain.faq import FAQ_ID_PATTERN
from services.gateway.domain.problems import INVALID_REQUEST, ApiProblem
from services.gateway.entrypoints.schemas import Problem
from services.gateway.service import Gateway
from trolyao.messaging import UNIT_ID_PATTERN

DOCUMENT_ID_PATTERN = r"^[\w][\w.\-:|]{0,199}$"
SSE_MEDIA_TYPE = "text/event-stream"
MAX_FORM_FIELDS = 10

UNIT_PATH = Path(
    pattern=UNIT_ID_PATTERN.pattern, description="Mã đơn vị, ví dụ `cuc-bao-chi`.", examples=["cuc-bao-chi"]
)
DOCUMENT_PATH = Path(
    pattern=DOCUMENT_ID_PATTERN, description="Mã văn bản do đơn vị đặt.", examples=["nd-13-2023"]
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


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem+json responses an operation can give."""
    return {
        status: {"model": Problem, "description": _PROBLEM_DESCRIPTIONS[status]}
        for status in statuses or STANDARD_PROBLEMS
    }


def sse_response_doc(description: str, example: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entry of a Server-Sent Events response."""
    return {
        200: {
            "description": description,
            "content": {SSE_MEDIA_TYPE: {"schema": {"type": "string"}, "example": example}},
        }
    }


def sse_event(data: Any, event: str | None = None) -> bytes:
    """One Server-Sent Event (JSON data on one line)."""
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"{head}data: {payload}\n\n".encode()


def sse_stream(events: Iterable[bytes]) -> StreamingResponse:
    """A text/event-stream response that proxies do not buffer."""

    async def body() -> AsyncIterator[bytes]:
        for event in events:
            yield event

    return StreamingResponse(
        body(),
        media_type=SSE_MEDIA_TYPE,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


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


__all__ = [
    "DOCUMENT_PATH",
    "FAQ_PATH",
    "SSE_MEDIA_TYPE",
    "STANDARD_PROBLEMS",
    "UNIT_PATH",
    "RouteContext",
    "problem_responses",
    "sse_event",
    "sse_response_doc",
    "sse_stream",
    "uploaded_file",
]
