"""One error format for every response: RFC 9457 `application/problem+json`.

`ApiProblem`s, validation errors, Starlette's 404/405, oversized bodies and unexpected exceptions
all leave through `problem_response`, with a stable `code` and Vietnamese `title`/`detail`. On
the OpenAI-compatible paths the body also carries `error: {message, type, code}`, the member
OpenAI clients read to show a message.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from nats.errors import Error as NatsError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.domain.problems import (
    DEPENDENCY_UNAVAILABLE,
    FORBIDDEN,
    INTERNAL,
    INVALID_REQUEST,
    METHOD_NOT_ALLOWED,
    NOT_ACCEPTABLE,
    NOT_FOUND,
    PAYLOAD_TOO_LARGE,
    UNAUTHENTICATED,
    UNSUPPORTED_MEDIA,
    ApiProblem,
    ProblemKind,
)
from services.gateway.entrypoints.document_paths import SLASH_STAND_IN
from services.gateway.entrypoints.validation_messages import vietnamese_message
from trolyao.keyvalue import TooManyKeys
from trolyao.logs import get_logger

log = get_logger("gateway")

PROBLEM_BASE = "https://trolyao.gov.vn/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
OPENAI_PATHS = ("/v1/chat/", "/v1/models")
MAX_REPORTED_FIELDS = 5
BYTES_PER_MIB = 1024 * 1024
UNAUTHORIZED_STATUS = 401
WWW_AUTHENTICATE = "WWW-Authenticate"
BEARER_CHALLENGE = 'Bearer realm="trolyao"'

_HTTP_KINDS: dict[int, ProblemKind] = {
    401: UNAUTHENTICATED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    406: NOT_ACCEPTABLE,
    413: PAYLOAD_TOO_LARGE,
    415: UNSUPPORTED_MEDIA,
}


def problem_body(kind: ProblemKind, detail: str, instance: str) -> dict[str, Any]:
    """The RFC 9457 body (plus the OpenAI `error` member on OpenAI-compatible paths)."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + kind.code,
        "title": kind.title,
        "status": kind.status,
        "code": kind.code,
        "detail": detail,
        "instance": instance.replace(SLASH_STAND_IN, "%2F"),  # a `/` inside a document id, as sent
    }
    if instance.startswith(OPENAI_PATHS):
        body["error"] = {"message": detail, "type": kind.code, "code": kind.code}
    return body


def problem_response(
    kind: ProblemKind, detail: str, instance: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A problem+json response; a 401 always names the scheme to use (RFC 6750 `WWW-Authenticate`)."""
    if kind.status == UNAUTHORIZED_STATUS and not any(
        name.lower() == WWW_AUTHENTICATE.lower() for name in (headers or {})
    ):
        headers = {**(headers or {}), WWW_AUTHENTICATE: BEARER_CHALLENGE}
    return JSONResponse(
        problem_body(kind, detail, instance),
        status_code=kind.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def too_large_detail(limit: int) -> str:
    """Vietnamese detail for a body over `limit` bytes."""
    if limit >= BYTES_PER_MIB:
        return f"Nội dung gửi lên vượt quá giới hạn {limit // BYTES_PER_MIB} MB."
    return f"Nội dung gửi lên vượt quá giới hạn {limit // 1024} KB."


def install_error_handlers(app: FastAPI) -> None:
    """Route every kind of failure to `problem_response`."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, error: ApiProblem) -> JSONResponse:
        return problem_response(error.kind, error.detail, request.url.path, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        fields = "; ".join(vietnamese_message(item) for item in error.errors()[:MAX_REPORTED_FIELDS])
        return problem_response(
            INVALID_REQUEST, f"Dữ liệu gửi lên không hợp lệ ({fields}).", request.url.path
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = _HTTP_KINDS.get(error.status_code) or (
            INVALID_REQUEST
            if error.status_code == 400
            else ProblemKind("http_error", error.status_code, "Yêu cầu không được chấp nhận.")
        )
        detail = kind.title
        if error.status_code == 400:
            detail = "Không đọc được nội dung yêu cầu (JSON hoặc biểu mẫu không hợp lệ)."
        return problem_response(kind, detail, request.url.path, dict(error.headers or {}))

    @app.exception_handler(NatsError)
    async def _nats_refused(request: Request, error: NatsError) -> JSONResponse:
        # JetStream refusing (limits, no leader, timeouts) or NATS away: the request may succeed
        # later, so 503 with a reason, never a 500.
        log.warning("nats_request_failed", path=request.url.path, error=type(error).__name__)
        detail = "Kho dữ liệu sự kiện (NATS JetStream) tạm thời từ chối yêu cầu; vui lòng thử lại sau."
        return problem_response(DEPENDENCY_UNAVAILABLE, detail, request.url.path, {"Retry-After": "5"})

    @app.exception_handler(TooManyKeys)
    async def _listing_too_large(request: Request, error: TooManyKeys) -> JSONResponse:
        # The bucket's subject index answers at most so many keys in one reply: refuse the listing
        # rather than answer part of it.
        log.warning("listing_too_large", path=request.url.path)
        detail = (
            "Danh sách quá lớn để kho dữ liệu sự kiện (NATS JetStream) trả về một lần; vui lòng báo quản trị."
        )
        return problem_response(DEPENDENCY_UNAVAILABLE, detail, request.url.path, {"Retry-After": "60"})

    @app.exception_handler(TimeoutError)
    async def _timed_out(request: Request, error: TimeoutError) -> JSONResponse:
        # A wait on a dependency that ran out (nats-py's own timeouts are NatsErrors, above).
        log.warning("dependency_timed_out", path=request.url.path, error=type(error).__name__)
        detail = "Dịch vụ phụ thuộc phản hồi quá chậm; vui lòng thử lại sau."
        return problem_response(DEPENDENCY_UNAVAILABLE, detail, request.url.path, {"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path, error=type(error).__name__)
        return problem_response(INTERNAL, INTERNAL.title, request.url.path)


# Every authenticated operation can answer these; bodies can also be too large.
BASELINE_PROBLEMS = {
    "401": "Thiếu hoặc sai thông tin xác thực.",
    "422": "Dữ liệu gửi lên không hợp lệ.",
    "429": "Vượt giới hạn tần suất; xem tiêu đề `Retry-After`.",
    "503": "Phụ thuộc (retrieval, ops, NATS) tạm thời không phục vụ được; xem `Retry-After`.",
}
BODY_PROBLEMS = {"413": "Nội dung gửi lên quá lớn."}
PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"
FIRST_ERROR_STATUS = 400
FASTAPI_SUCCESS_DESCRIPTION = "Successful Response"
CREATED_STATUS = "201"
SUCCESS_OUTCOMES = {
    "200": "Thành công",
    "201": "Đã tạo",
    "202": "Đã tiếp nhận, đang xử lý",
    "204": "Thành công, không có nội dung trả về",
}


def install_problem_openapi(
    app: FastAPI, problem_schema: dict[str, Any], *, authenticated_prefix: str
) -> None:
    """Describe every error response as `application/problem+json` with the `Problem` schema.

    FastAPI documents errors as `application/json` and validation errors with its own shape; the
    gateway answers all of them as problem+json, so the document says so, once, here. Operations
    under `authenticated_prefix` also document the errors any authenticated call can get.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = build()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = problem_schema
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        for path, operations in document.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if path.startswith(authenticated_prefix):
                    baseline = {**BASELINE_PROBLEMS, **(BODY_PROBLEMS if "requestBody" in operation else {})}
                    for status, description in baseline.items():
                        responses.setdefault(status, {"description": description})
                for status, response in responses.items():
                    if status.isdigit() and int(status) < FIRST_ERROR_STATUS:
                        _describe_success(status, response, str(operation.get("summary", "")))
                    if status.isdigit() and int(status) >= FIRST_ERROR_STATUS and _is_problem(response):
                        response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}}
                        if status == "422" and response.get("description") == "Validation Error":
                            response["description"] = BASELINE_PROBLEMS["422"]
                        if status == str(UNAUTHORIZED_STATUS):
                            response.setdefault("headers", {})[WWW_AUTHENTICATE] = {
                                "description": "Cơ chế xác thực cần dùng: `Bearer`.",
                                "schema": {"type": "string"},
                            }
                        if status in ("429", "503"):
                            response.setdefault("headers", {})["Retry-After"] = {
                                "description": "Số giây nên chờ trước khi thử lại.",
                                "schema": {"type": "string"},
                            }
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _describe_success(status: str, response: dict[str, Any], summary: str) -> None:
    """FastAPI's default "Successful Response" becomes a Vietnamese description of the outcome; a
    201 documents its `Location` header."""
    if response.get("description") in (None, "", FASTAPI_SUCCESS_DESCRIPTION):
        outcome = SUCCESS_OUTCOMES.get(status, SUCCESS_OUTCOMES["200"])
        response["description"] = f"{outcome}: {summary[:1].lower()}{summary[1:]}." if summary else outcome
    if status == CREATED_STATUS:
        response.setdefault("headers", {}).setdefault(
            "Location",
            {"description": "Đường dẫn của tài nguyên vừa tạo.", "schema": {"type": "string"}},
        )


def _is_problem(response: dict[str, Any]) -> bool:
    """An error response documented without a body, as a Problem, or as FastAPI's validation error
    (not, say, /readyz's 503, which has a body of its own)."""
    refs = {str(media.get("schema", {}).get("$ref", "")) for media in response.get("content", {}).values()}
    return all(ref.endswith(("/Problem", "/HTTPValidationError")) or not ref for ref in refs)


class BodySizeLimit:
    """Refuse request bodies over the limit (413 problem+json), declared or streamed.

    Document uploads get `upload_limit`; every other body gets `default_limit`. A declared
    Content-Length over the limit is refused before the app runs; a chunked body is counted as it
    arrives and cut off with 413 the moment it passes the limit.

    Why not Starlette's own `RequestBodyLimitMiddleware` (FastAPI's `max_body_size`, app-wide and per
    route): as of Starlette 1.10 it answers a declared Content-Length over the limit with its own
    plain-text "Content Too Large", replacing whatever response the app sent, and it sits outside
    the user middleware, so the 413 carries neither problem+json nor CORS headers (issue 16: tried,
    and `tests/gateway/test_limits.py` pins what it would break).
    """

    def __init__(self, app: ASGIApp, *, default_limit: int, upload_limit: int, upload_marker: str) -> None:
        self.app = app
        self.default_limit = default_limit
        self.upload_limit = upload_limit
        self.upload_marker = upload_marker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = self.upload_limit if self.upload_marker in path else self.default_limit
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await problem_response(PAYLOAD_TOO_LARGE, too_large_detail(limit), path)(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise StarletteHTTPException(status_code=413)
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "BodySizeLimit",
    "install_error_handlers",
    "install_problem_openapi",
    "problem_body",
    "problem_response",
    "too_large_detail",
]
