"""The public HTTP API (FastAPI). Routes turn HTTP into calls on the backends; nothing else.

Built by `create_app(settings)`: no module-level state, so tests build as many apps as they like.
"""


import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.gateway.adapters.backends import Backends, call_backend
from services.gateway.domain.authorization import Forbidden, Principal, Scope, authorize
from services.gateway.domain.problems import (
    DOCUMENT_NOT_FOUND,
    FORBIDDEN,
    INTERNAL,
    INVALID_REQUEST,
    NOT_FOUND,
    PAYLOAD_TOO_LARGE,
    UNAUTHENTICATED,
    UNIT_NOT_FOUND,
    ApiProblem,
    ProblemKind,
)
from services.gateway.entrypoints.schemas import (
    AskIn,
    AskOut,
    CitationOut,
    DocumentIn,
    DocumentList,
    DocumentStatusOut,
    HealthOut,
    Problem,
    ReadinessOut,
    UnitIn,
    UnitList,
    UnitOut,
)
from services.gateway.settings import GatewaySettings
from trolyao.docstatus import DocumentStatus, read_status, write_status
from trolyao.logs import get_logger
from trolyao.messaging import (
    DOC_STATUS_BUCKET,
    ORIGINALS_BUCKET,
    SCHEMA_VERSION,
    UNIT_ID_PATTERN,
    delete_subject,
    document_id_from_key,
    original_object_name,
    question_subject,
    upsert_subject,
)
from trolyao.v1 import events_pb2, ops_pb2, retrieval_pb2

log = get_logger("gateway")

PROBLEM_BASE = "https://trolyao.gov.vn/problems/"
MICROSECONDS = 1_000_000
UNIT_CACHE_SECONDS = 30.0
DOCUMENT_ID_PATTERN = r"^[\w][\w.\-:|]{0,199}$"
UNIT_PATH = Path(pattern=UNIT_ID_PATTERN.pattern, description="Mã đơn vị, ví dụ `cuc-bao-chi`.", examples=["cuc-bao-chi"])
DOCUMENT_PATH = Path(pattern=DOCUMENT_ID_PATTERN, description="Mã văn bản do đơn vị đặt.", examples=["nd-13-2023"])
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}}
    for status in (401, 403, 404, 413, 422, 429, 503)
}


def problem_response(kind: ProblemKind, detail: str, instance: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {
        "type": PROBLEM_BASE + kind.code,
        "title": kind.title,
        "status": kind.status,
        "code": kind.code,
        "detail": detail,
        "instance": instance,
    }
    return JSONResponse(body, status_code=kind.status, media_type="application/problem+json", headers=headers)


def _now_version() -> int:
    return time.time_ns() // 1000


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    backends = Backends(
        retrieval_addr=settings.retrieval_addr,
        ops_addr=settings.ops_addr,
        nats_url=settings.nats_url,
        timeout=settings.rpc_timeout_seconds,
    )
    known_units: dict[str, float] = {}
    bootstrap_key_digest = (
        hashlib.sha256(settings.bootstrap_api_key.encode()).digest() if settings.bootstrap_api_key else None
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await backends.start()
        yield
        await backends.stop()

    app = FastAPI(
        title="trolyao — Trợ lý ảo của các đơn vị",
        version="1.0.0",
        description=(
            "API công khai của nền tảng trợ lý ảo: mỗi đơn vị có trợ lý riêng trên tri thức của mình. "
            "Mọi yêu cầu cần `Authorization: Bearer <khóa API hoặc token>`. Lỗi trả về theo RFC 9457 "
            "(`application/problem+json`) với mã `code` ổn định và thông điệp tiếng Việt."
        ),
        lifespan=lifespan,
    )
    app.state.backends = backends
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, error: ApiProblem) -> JSONResponse:
        return problem_response(error.kind, error.detail, request.url.path, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        fields = "; ".join(
            f"{'.'.join(str(part) for part in item.get('loc', ()))}: {item.get('msg', '')}" for item in error.errors()
        )
        return problem_response(INVALID_REQUEST, f"Dữ liệu gửi lên không hợp lệ ({fields}).", request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = {404: NOT_FOUND, 401: UNAUTHENTICATED, 403: FORBIDDEN, 413: PAYLOAD_TOO_LARGE}.get(
            error.status_code, ProblemKind("http_error", error.status_code, "Yêu cầu không được chấp nhận.")
        )
        return problem_response(kind, kind.title, request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path, error=type(error).__name__)
        return problem_response(INTERNAL, INTERNAL.title, request.url.path)

    async def current_principal(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise ApiProblem(UNAUTHENTICATED, "Thiếu tiêu đề Authorization: Bearer <khóa API hoặc token>.")
        credential = credential.strip()
        if bootstrap_key_digest is not None and hmac.compare_digest(
            hashlib.sha256(credential.encode()).digest(), bootstrap_key_digest
        ):
            return Principal(
                subject="bootstrap",
                kind="api_key",
                units=frozenset(),
                all_units=True,
                scopes=frozenset({"read", "write", "admin"}),
            )
        if credential.startswith("tly_"):
            return await backends.authenticate_api_key(credential)
        raise ApiProblem(UNAUTHENTICATED, "Khóa API hoặc token không hợp lệ.")

    CurrentPrincipal = Annotated[Principal, Depends(current_principal)]

    def require(principal: Principal, unit: str | None, scope: Scope) -> None:
        try:
            authorize(principal, unit=unit, scope=scope)
        except Forbidden as error:
            detail = (
                "Thông tin xác thực không được cấp quyền cho đơn vị này."
                if unit is not None and str(error) == unit
                else "Thông tin xác thực không đủ quyền cho thao tác này."
            )
            raise ApiProblem(FORBIDDEN, detail) from error

    async def ensure_unit(unit: str) -> None:
        if known_units.get(unit, 0.0) > time.monotonic():
            return
        await call_backend(
            "ops",
            backends.ops.GetUnit(ops_pb2.GetUnitRequest(unit_id=unit), timeout=backends.timeout),
            not_found=UNIT_NOT_FOUND,
        )
        known_units[unit] = time.monotonic() + UNIT_CACHE_SECONDS

    # ---------------------------------------------------------------- health

    @app.get("/healthz", response_model=HealthOut, tags=["vận hành"], summary="Gateway còn sống")
    async def healthz() -> HealthOut:
        """Trả về `ok` khi tiến trình gateway đang chạy (không kiểm tra các phụ thuộc)."""
        return HealthOut(status="ok")

    @app.get(
        "/readyz",
        response_model=ReadinessOut,
        tags=["vận hành"],
        summary="Sẵn sàng phục vụ",
        responses={503: {"model": ReadinessOut}},
    )
    async def readyz() -> JSONResponse:
        """Kiểm tra từng phụ thuộc (NATS, retrieval, kho vector, ops); 503 kèm lý do khi có phụ thuộc hỏng."""
        checks = await backends.readiness()
        ready = all(ok for ok, _ in checks.values())
        body = ReadinessOut(
            ready=ready,
            dependencies={name: {"ready": ok, "reason": reason} for name, (ok, reason) in checks.items()},
        )
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    # ---------------------------------------------------------------- units

    @app.get("/v1/units", response_model=UnitList, tags=["đơn vị"], summary="Danh sách đơn vị", responses=PROBLEM_RESPONSES)
    async def list_units(principal: CurrentPrincipal) -> UnitList:
        """Các đơn vị mà thông tin xác thực được phép xem."""
        require(principal, None if principal.all_units else next(iter(principal.units), ""), Scope.READ)
        reply = await call_backend("ops", backends.ops.ListUnits(ops_pb2.ListUnitsRequest(), timeout=backends.timeout))
        return UnitList(
            units=[
                UnitOut(unit_id=u.unit_id, name=u.name, created_at=u.created_at, updated_at=u.updated_at)
                for u in reply.units
                if principal.all_units or u.unit_id in principal.units
            ]
        )

    @app.get("/v1/units/{unit}", response_model=UnitOut, tags=["đơn vị"], summary="Xem một đơn vị", responses=PROBLEM_RESPONSES)
    async def get_unit(principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH]) -> UnitOut:
        """Thông tin một đơn vị."""
        require(principal, unit, Scope.READ)
        reply = await call_backend(
            "ops", backends.ops.GetUnit(ops_pb2.GetUnitRequest(unit_id=unit), timeout=backends.timeout),
            not_found=UNIT_NOT_FOUND,
        )
        return UnitOut(unit_id=reply.unit_id, name=reply.name, created_at=reply.created_at, updated_at=reply.updated_at)

    @app.put("/v1/units/{unit}", response_model=UnitOut, tags=["đơn vị"], summary="Tạo hoặc đổi tên đơn vị", responses=PROBLEM_RESPONSES)
    async def put_unit(principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH], body: UnitIn) -> UnitOut:
        """Tạo đơn vị mới hoặc đổi tên đơn vị (chỉ quản trị cấp Bộ)."""
        require(principal, None, Scope.ADMIN)
        reply = await call_backend(
            "ops", backends.ops.PutUnit(ops_pb2.PutUnitRequest(unit_id=unit, name=body.name), timeout=backends.timeout)
        )
        known_units[unit] = time.monotonic() + UNIT_CACHE_SECONDS
        return UnitOut(unit_id=reply.unit_id, name=reply.name, created_at=reply.created_at, updated_at=reply.updated_at)

    # ---------------------------------------------------------------- documents

    async def publish_upsert(
        *,
        unit: str,
        document_id: str,
        version: int,
        data: bytes,
        filename: str,
        media_type: str,
        title: str,
        metadata: dict[str, str],
    ) -> DocumentStatusOut:
        js = backends.js
        object_name = original_object_name(unit, document_id, version)
        store = await js.object_store(ORIGINALS_BUCKET)
        await store.put(object_name, data)
        event_id = str(uuid.uuid4())
        event = events_pb2.DocumentUpserted(
            schema_version=SCHEMA_VERSION,
            event_id=event_id,
            unit=unit,
            document_id=document_id,
            version=version,
            content_hash="sha256:" + hashlib.sha256(data).hexdigest(),
            occurred_at=_now_iso(),
            source="gateway",
            object_name=object_name,
            filename=filename,
            media_type=media_type,
        )
        known_fields = set(events_pb2.DocumentUpserted.DESCRIPTOR.fields_by_name["metadata"].message_type.fields_by_name)
        for key, value in metadata.items():
            if key in known_fields:
                setattr(event.metadata, key, str(value))
        if title:
            event.metadata.title = title
        status = DocumentStatus(
            unit=unit, document_id=document_id, version=version, status="pending", title=title, filename=filename
        )
        bucket = await js.key_value(DOC_STATUS_BUCKET)
        await write_status(bucket, status)
        await js.publish(
            upsert_subject(unit), json_format.MessageToJson(event).encode(), headers={"Nats-Msg-Id": event_id}
        )
        return _status_out(status)

    @app.put(
        "/v1/units/{unit}/documents/{document_id}",
        response_model=DocumentStatusOut,
        status_code=202,
        tags=["văn bản"],
        summary="Tạo hoặc thay thế văn bản",
        responses=PROBLEM_RESPONSES,
        openapi_extra={
            "requestBody": {
                "content": {
                    "application/json": {"schema": DocumentIn.model_json_schema()},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "title": {"type": "string"},
                                "version": {"type": "integer", "minimum": 1},
                            },
                        }
                    },
                },
                "required": True,
            }
        },
    )
    async def put_document(
        request: Request,
        principal: CurrentPrincipal,
        unit: Annotated[str, UNIT_PATH],
        document_id: Annotated[str, DOCUMENT_PATH],
    ) -> DocumentStatusOut:
        """Nhận văn bản (JSON `{title, text, version?, metadata?}` hoặc tải tệp multipart), lưu bản gốc
        và phát sự kiện để xử lý; trạng thái `pending` cho tới khi lập chỉ mục xong."""
        require(principal, unit, Scope.WRITE)
        await ensure_unit(unit)
        content_type = request.headers.get("content-type", "")
        declared = int(request.headers.get("content-length") or 0)
        if declared > settings.max_upload_bytes:
            raise ApiProblem(PAYLOAD_TOO_LARGE, _too_large(settings.max_upload_bytes))
        if content_type.startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=10)
            upload = form.get("file")
            if not isinstance(upload, UploadFile) and not hasattr(upload, "read"):
                raise ApiProblem(INVALID_REQUEST, "Thiếu tệp trong trường 'file'.")
            data = await upload.read()  # type: ignore[union-attr]
            if len(data) > settings.max_upload_bytes:
                raise ApiProblem(PAYLOAD_TOO_LARGE, _too_large(settings.max_upload_bytes))
            if not data:
                raise ApiProblem(INVALID_REQUEST, "Tệp tải lên rỗng.")
            version = _form_version(form.get("version"))
            return await publish_upsert(
                unit=unit,
                document_id=document_id,
                version=version,
                data=data,
                filename=str(getattr(upload, "filename", "") or "upload"),
                media_type=str(getattr(upload, "content_type", "") or ""),
                title=str(form.get("title") or ""),
                metadata={},
            )
        raw = await request.body()
        if len(raw) > settings.max_upload_bytes:
            raise ApiProblem(PAYLOAD_TOO_LARGE, _too_large(settings.max_upload_bytes))
        try:
            body = DocumentIn.model_validate_json(raw)
        except ValueError as error:
            raise ApiProblem(
                INVALID_REQUEST,
                "Nội dung phải là JSON {title, text, version?, metadata?} hoặc multipart có trường 'file'.",
            ) from error
        return await publish_upsert(
            unit=unit,
            document_id=document_id,
            version=body.version or _now_version(),
            data=body.text.encode("utf-8"),
            filename="document.txt",
            media_type="text/plain; charset=utf-8",
            title=body.title,
            metadata=body.metadata,
        )

    @app.get(
        "/v1/units/{unit}/documents/{document_id}",
        response_model=DocumentStatusOut,
        tags=["văn bản"],
        summary="Trạng thái văn bản",
        responses=PROBLEM_RESPONSES,
    )
    async def get_document(
        principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH], document_id: Annotated[str, DOCUMENT_PATH]
    ) -> DocumentStatusOut:
        """`pending`, `indexed`, `failed` (kèm lý do) hoặc `deleted`."""
        require(principal, unit, Scope.READ)
        bucket = await backends.js.key_value(DOC_STATUS_BUCKET)
        status = await read_status(bucket, unit, document_id)
        if status is None:
            raise ApiProblem(DOCUMENT_NOT_FOUND)
        return _status_out(status)

    @app.delete(
        "/v1/units/{unit}/documents/{document_id}",
        response_model=DocumentStatusOut,
        status_code=202,
        tags=["văn bản"],
        summary="Xóa văn bản",
        responses=PROBLEM_RESPONSES,
    )
    async def delete_document(
        principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH], document_id: Annotated[str, DOCUMENT_PATH]
    ) -> DocumentStatusOut:
        """Phát sự kiện xóa; mọi đoạn của văn bản bị gỡ khỏi chỉ mục."""
        require(principal, unit, Scope.WRITE)
        js = backends.js
        bucket = await js.key_value(DOC_STATUS_BUCKET)
        current = await read_status(bucket, unit, document_id)
        if current is None or current.status == "deleted":
            raise ApiProblem(DOCUMENT_NOT_FOUND)
        version = max(_now_version(), current.version + 1)
        event_id = str(uuid.uuid4())
        event = events_pb2.DocumentDeleted(
            schema_version=SCHEMA_VERSION,
            event_id=event_id,
            unit=unit,
            document_id=document_id,
            version=version,
            occurred_at=_now_iso(),
            source="gateway",
        )
        await js.publish(
            delete_subject(unit), json_format.MessageToJson(event).encode(), headers={"Nats-Msg-Id": event_id}
        )
        return _status_out(DocumentStatus(unit=unit, document_id=document_id, version=version, status="pending"))

    @app.get(
        "/v1/units/{unit}/documents",
        response_model=DocumentList,
        tags=["văn bản"],
        summary="Danh sách văn bản",
        responses=PROBLEM_RESPONSES,
    )
    async def list_documents(principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH]) -> DocumentList:
        """Mọi văn bản của đơn vị với trạng thái hiện tại (không gồm văn bản đã xóa)."""
        require(principal, unit, Scope.READ)
        bucket = await backends.js.key_value(DOC_STATUS_BUCKET)
        try:
            keys = await bucket.keys(filters=[f"{unit}.>"])
        except Exception as error:
            if type(error).__name__ == "NoKeysError":
                keys = []
            else:
                raise
        documents = []
        for key in keys:
            key_unit, document_id = document_id_from_key(key)
            if key_unit != unit:
                continue
            status = await read_status(bucket, unit, document_id)
            if status is not None and status.status != "deleted":
                documents.append(_status_out(status))
        return DocumentList(documents=sorted(documents, key=lambda d: d.document_id))

    # ---------------------------------------------------------------- ask

    @app.post(
        "/v1/units/{unit}/ask",
        response_model=AskOut,
        tags=["hỏi đáp"],
        summary="Hỏi trợ lý ảo của đơn vị",
        responses=PROBLEM_RESPONSES,
    )
    async def ask(principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH], body: AskIn) -> AskOut:
        """Trả lời từ tri thức của đơn vị kèm trích dẫn nguồn, hoặc `answered: false` khi chưa có thông tin."""
        require(principal, unit, Scope.READ)
        await ensure_unit(unit)
        started = time.perf_counter()
        request = retrieval_pb2.AskRequest(
            unit=unit,
            question=body.question,
            history=[retrieval_pb2.ConversationTurn(question=t.question, answer=t.answer) for t in body.history],
        )
        reply = await call_backend("retrieval", backends.retrieval.Ask(request, timeout=backends.timeout))
        question_id = str(uuid.uuid4())
        await _record_question(backends, unit, question_id, body, reply, principal, time.perf_counter() - started)
        return AskOut(
            answered=reply.answered,
            answer=reply.answer,
            confidence=max(0.0, min(1.0, reply.confidence)),
            answer_source=reply.answer_source or "none",
            question_id=question_id,
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
                )
                for c in reply.citations
            ],
        )

    return app


async def _record_question(
    backends: Backends,
    unit: str,
    question_id: str,
    body: AskIn,
    reply: retrieval_pb2.AskResponse,
    principal: Principal,
    seconds: float,
) -> None:
    """Keep every question and its outcome for the unit's answer-rate report (best effort)."""
    record = {
        "question_id": question_id,
        "unit": unit,
        "question": body.question,
        "answered": reply.answered,
        "confidence": reply.confidence,
        "answer_source": reply.answer_source,
        "first_citation": reply.citations[0].document_id if reply.citations else "",
        "asked_at": _now_iso(),
        "subject": principal.subject,
        "latency_ms": round(seconds * 1000, 1),
    }
    try:
        await backends.js.publish(question_subject(unit), json.dumps(record, ensure_ascii=False).encode())
    except Exception as error:  # the answer matters more than its record; the log says it was lost
        log.warning("question_record_failed", unit=unit, error=type(error).__name__)


def _status_out(status: DocumentStatus) -> DocumentStatusOut:
    return DocumentStatusOut(
        unit=status.unit,
        document_id=status.document_id,
        status=status.status,
        version=status.version,
        title=status.title,
        filename=status.filename,
        chunk_count=status.chunk_count,
        code=status.code,
        reason=status.message,
        updated_at=status.updated_at,
    )


def _too_large(limit: int) -> str:
    return f"Tệp vượt quá giới hạn {limit // (1024 * 1024)} MB cho mỗi văn bản."


def _form_version(value: object) -> int:
    if value in (None, ""):
        return _now_version()
    try:
        version = int(str(value))
    except ValueError as error:
        raise ApiProblem(INVALID_REQUEST, "Trường 'version' phải là số nguyên dương.") from error
    if version < 1:
        raise ApiProblem(INVALID_REQUEST, "Trường 'version' phải là số nguyên dương.")
    return version

