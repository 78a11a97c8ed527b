"""Documents (create / replace / delete / status / list) and FAQ entries (CRUD).

Both end in the same pipeline: the original goes to the object store, an event to
`docs.<unit>.upsert|delete`, and ingest reports the outcome in the status bucket.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from services.gateway.adapters.access_tokens import require_fresh_otp
from services.gateway.domain.authorization import Principal, Scope
from services.gateway.domain.faq import FAQ_DOCUMENT_PREFIX, FaqEntry
from services.gateway.domain.problems import INVALID_REQUEST, ApiProblem
from services.gateway.entrypoints.routing import (
    DOCUMENT_PATH,
    FAQ_PATH,
    UNIT_PATH,
    RouteContext,
    problem_responses,
    uploaded_file,
)
from services.gateway.entrypoints.schemas import (
    DocumentIn,
    DocumentList,
    DocumentStatusOut,
    FaqIn,
    FaqList,
    FaqOut,
)
from services.gateway.service import DocumentUpload
from trolyao.docstatus import DocumentStatus

TAG_DOCUMENTS = "văn bản"
TAG_FAQ = "câu hỏi thường gặp"
MULTIPART = "multipart/form-data"


def status_out(status: DocumentStatus) -> DocumentStatusOut:
    """The API view of a document status record."""
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


def faq_out(entry: FaqEntry, status: DocumentStatus | None) -> FaqOut:
    """The API view of an FAQ entry with its indexing status."""
    return FaqOut(
        faq_id=entry.faq_id,
        document_id=entry.document_id,
        question=entry.question,
        answer=entry.answer,
        alternative_questions=list(entry.alternative_questions),
        category=entry.category,
        basis=entry.basis,
        version=entry.version,
        status=status.status if status is not None and status.version >= entry.version else "pending",
        reason=status.message if status is not None and status.version >= entry.version else "",
        created_at=entry.created_at,
        updated_at=entry.updated_at,
    )


def _form_version(value: object) -> int | None:
    if value in (None, ""):
        return None
    try:
        version = int(str(value))
    except ValueError as error:
        raise ApiProblem(INVALID_REQUEST, "Trường 'version' phải là số nguyên dương.") from error
    if version < 1:
        raise ApiProblem(INVALID_REQUEST, "Trường 'version' phải là số nguyên dương.")
    return version


def _refuse_faq_document(document_id: str) -> None:
    if document_id.startswith(FAQ_DOCUMENT_PREFIX):
        raise ApiProblem(
            INVALID_REQUEST,
            "Mã văn bản bắt đầu bằng 'faq-' dành cho câu hỏi thường gặp; hãy dùng /v1/units/{unit}/faq.",
        )


DOCUMENT_EXAMPLE = {
    "title": "Nghị định 13/2023/NĐ-CP về bảo vệ dữ liệu cá nhân",
    "text": "Điều 1. Phạm vi điều chỉnh\nNghị định này quy định về bảo vệ dữ liệu cá nhân...",
    "metadata": {"number": "13/2023/NĐ-CP", "issuer": "Chính phủ", "doc_type": "Nghị định"},
}
_DOCUMENT_BODY: dict[str, Any] = {
    "requestBody": {
        "content": {
            "application/json": {
                "schema": DocumentIn.model_json_schema(),
                "example": DOCUMENT_EXAMPLE,
            },
            MULTIPART: {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "Tệp .pdf, .docx, .xlsx, .csv, .html, .md, .txt",
                        },
                        "title": {"type": "string", "description": "Tiêu đề văn bản."},
                        "version": {"type": "integer", "minimum": 1, "description": "Phiên bản tăng dần."},
                    },
                },
            },
        },
        "required": True,
    }
}


def build_router(ctx: RouteContext) -> APIRouter:
    """Routes under /v1/units/{unit}/documents and /v1/units/{unit}/faq."""
    router = APIRouter()
    CurrentPrincipal = Annotated[Principal, Depends(ctx.principal)]
    gateway, require = ctx.gateway, ctx.require

    @router.put(
        "/v1/units/{unit}/documents/{document_id}",
        response_model=DocumentStatusOut,
        status_code=202,
        tags=[TAG_DOCUMENTS],
        summary="Tạo hoặc thay thế văn bản",
        responses=problem_responses(401, 403, 404, 409, 413, 422, 429, 503),
        openapi_extra=_DOCUMENT_BODY,
    )
    async def put_document(
        request: Request,
        principal: CurrentPrincipal,
        unit: Annotated[str, UNIT_PATH],
        document_id: Annotated[str, DOCUMENT_PATH],
    ) -> DocumentStatusOut:
        """Nhận văn bản (JSON `{title, text, version?, metadata?}` hoặc tải tệp multipart với trường
        `file`), lưu bản gốc và phát sự kiện để xử lý; trạng thái `pending` cho tới khi lập chỉ mục
        xong. Phiên bản cũ hơn phiên bản đã có bị từ chối (409 `stale_version`)."""
        require(principal, unit, Scope.WRITE)
        _refuse_faq_document(document_id)
        await gateway.ensure_unit(unit)
        if request.headers.get("content-type", "").startswith(MULTIPART):
            form, upload, data = await uploaded_file(request)
            document = DocumentUpload(
                data=data,
                filename=upload.filename or "upload",
                media_type=upload.content_type or "",
                title=str(form.get("title") or ""),
                version=_form_version(form.get("version")),
            )
        else:
            try:
                body = DocumentIn.model_validate_json(await request.body())
            except ValueError as error:
                raise ApiProblem(
                    INVALID_REQUEST,
                    "Nội dung phải là JSON {title, text, version?, metadata?} "
                    "hoặc multipart có trường 'file'.",
                ) from error
            document = DocumentUpload(
                data=body.text.encode("utf-8"),
                filename="document.txt",
                media_type="text/plain; charset=utf-8",
                title=body.title,
                version=body.version,
                metadata=body.metadata,
            )
        return status_out(await gateway.upsert_document(unit, document_id, document))

    @router.get(
        "/v1/units/{unit}/documents/{document_id}",
        response_model=DocumentStatusOut,
        tags=[TAG_DOCUMENTS],
        summary="Trạng thái văn bản",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def get_document(
        principal: CurrentPrincipal,
        unit: Annotated[str, UNIT_PATH],
        document_id: Annotated[str, DOCUMENT_PATH],
    ) -> DocumentStatusOut:
        """`pending`, `indexed` (kèm số đoạn), `failed` (kèm `code` và lý do tiếng Việt) hoặc `deleted`,
        ví dụ `GET /v1/units/cuc-bao-chi/documents/nd-13-2023`."""
        require(principal, unit, Scope.READ)
        return status_out(await gateway.document_status(unit, document_id))

    @router.delete(
        "/v1/units/{unit}/documents/{document_id}",
        response_model=DocumentStatusOut,
        status_code=202,
        tags=[TAG_DOCUMENTS],
        summary="Xóa văn bản",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def delete_document(
        principal: CurrentPrincipal,
        unit: Annotated[str, UNIT_PATH],
        document_id: Annotated[str, DOCUMENT_PATH],
    ) -> DocumentStatusOut:
        """Phát sự kiện xóa; mọi đoạn của văn bản bị gỡ khỏi chỉ mục (trạng thái chuyển sang
        `deleted`), ví dụ `DELETE /v1/units/cuc-bao-chi/documents/nd-13-2023`. Cán bộ cần xác nhận
        OTP trong vài phút gần nhất (step-up); khóa API của hệ thống đơn vị không cần."""
        require(principal, unit, Scope.WRITE)
        require_fresh_otp(principal, allow_api_keys=True, now=ctx.clock())
        _refuse_faq_document(document_id)
        return status_out(await gateway.delete_document(unit, document_id))

    @router.get(
        "/v1/units/{unit}/documents",
        response_model=DocumentList,
        tags=[TAG_DOCUMENTS],
        summary="Danh sách văn bản",
        responses=problem_responses(401, 403, 422, 429, 503),
    )
    async def list_documents(principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH]) -> DocumentList:
        """Mọi văn bản của đơn vị với trạng thái hiện tại (không gồm văn bản đã xóa), theo mã,
        ví dụ `GET /v1/units/cuc-bao-chi/documents`."""
        require(principal, unit, Scope.READ)
        return DocumentList(documents=[status_out(s) for s in await gateway.list_documents(unit)])

    # ---------------------------------------------------------------- FAQ

    async def save_faq(unit: str, faq_id: str, body: FaqIn) -> FaqOut:
        entry = FaqEntry(
            unit=unit,
            faq_id=faq_id,
            question=body.question.strip(),
            answer=body.answer.strip(),
            alternative_questions=tuple(q.strip() for q in body.alternative_questions if q.strip()),
            category=body.category.strip(),
            basis=body.basis.strip(),
        )
        saved, status = await gateway.put_faq(entry)
        return faq_out(saved, status)

    @router.get(
        "/v1/units/{unit}/faq",
        response_model=FaqList,
        tags=[TAG_FAQ],
        summary="Danh sách câu hỏi thường gặp",
        responses=problem_responses(401, 403, 422, 429, 503),
    )
    async def list_faq(principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH]) -> FaqList:
        """Các câu hỏi thường gặp đã duyệt của đơn vị, kèm trạng thái lập chỉ mục,
        ví dụ `GET /v1/units/cuc-bao-chi/faq`."""
        require(principal, unit, Scope.READ)
        return FaqList(entries=[faq_out(entry, status) for entry, status in await gateway.list_faq(unit)])

    @router.post(
        "/v1/units/{unit}/faq",
        response_model=FaqOut,
        status_code=201,
        tags=[TAG_FAQ],
        summary="Thêm câu hỏi thường gặp",
        responses=problem_responses(401, 403, 404, 413, 422, 429, 503),
    )
    async def create_faq(
        principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH], body: FaqIn, response: Response
    ) -> FaqOut:
        """Thêm một cặp hỏi–đáp đã duyệt; hệ thống gán mã và lập chỉ mục như một văn bản
        `faq-<mã>`. Khi câu hỏi của người dân khớp, trợ lý ưu tiên câu trả lời này (`answer_source: faq`)."""
        require(principal, unit, Scope.WRITE)
        await gateway.ensure_unit(unit)
        created = await save_faq(unit, await gateway.new_faq_id(unit), body)
        response.headers["Location"] = f"/v1/units/{unit}/faq/{created.faq_id}"
        return created

    @router.get(
        "/v1/units/{unit}/faq/{faq_id}",
        response_model=FaqOut,
        tags=[TAG_FAQ],
        summary="Xem câu hỏi thường gặp",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def get_faq(
        principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH], faq_id: Annotated[str, FAQ_PATH]
    ) -> FaqOut:
        """Câu hỏi, câu trả lời, các cách hỏi khác và trạng thái lập chỉ mục,
        ví dụ `GET /v1/units/cuc-bao-chi/faq/le-phi-cap-phep`."""
        require(principal, unit, Scope.READ)
        entry, status = await gateway.get_faq(unit, faq_id)
        return faq_out(entry, status)

    @router.put(
        "/v1/units/{unit}/faq/{faq_id}",
        response_model=FaqOut,
        tags=[TAG_FAQ],
        summary="Tạo hoặc sửa câu hỏi thường gặp",
        responses=problem_responses(401, 403, 404, 413, 422, 429, 503),
    )
    async def put_faq(
        principal: CurrentPrincipal,
        unit: Annotated[str, UNIT_PATH],
        faq_id: Annotated[str, FAQ_PATH],
        body: FaqIn,
    ) -> FaqOut:
        """Tạo (với mã do đơn vị đặt) hoặc thay thế một câu hỏi thường gặp; bản mới được lập chỉ mục
        lại (trạng thái `pending` rồi `indexed`)."""
        require(principal, unit, Scope.WRITE)
        await gateway.ensure_unit(unit)
        return await save_faq(unit, faq_id, body)

    @router.delete(
        "/v1/units/{unit}/faq/{faq_id}",
        response_model=DocumentStatusOut,
        status_code=202,
        tags=[TAG_FAQ],
        summary="Xóa câu hỏi thường gặp",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def delete_faq(
        principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH], faq_id: Annotated[str, FAQ_PATH]
    ) -> DocumentStatusOut:
        """Xóa câu hỏi thường gặp và gỡ văn bản `faq-<mã>` khỏi chỉ mục."""
        require(principal, unit, Scope.WRITE)
        return status_out(await gateway.delete_faq(unit, faq_id))

    return router


__all__ = ["build_router", "faq_out", "status_out"]
