"""Documents (create / replace / delete / status / list) and FAQ entries (CRUD).

Both end in the same pipeline: the original goes to the object store, an event to
`docs.<unit>.upsert|delete`, and ingest reports the outcome in the status bucket.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from services.gateway.adapters.access_tokens import require_fresh_otp
from services.gateway.domain.authorization import Principal, Scope
from services.gateway.domain.faq import FaqEntry
from services.gateway.domain.pagination import DEFAULT_PAGE_SIZE
from services.gateway.domain.problems import INVALID_REQUEST, ApiProblem
from services.gateway.entrypoints.document_paths import document_id_path, refuse_faq_document
from services.gateway.entrypoints.routes_ingest_queue import queue_out
from services.gateway.entrypoints.routing import (
    FAQ_PATH,
    UNIT_PATH,
    PageCursor,
    PageLimit,
    RouteContext,
    paginate,
    problem_responses,
    uploaded_file,
)
from services.gateway.entrypoints.schemas.documents import (
    DocumentIn,
    DocumentList,
    DocumentStatusOut,
    FaqIn,
    FaqList,
    FaqOut,
)
from services.gateway.service import DocumentUpload
from trolyao.docstatus import DocumentStatus
from trolyao.documents import METADATA_MAX_CHARS, overlong_metadata_fields
from trolyao.ingestqueue import QueueReading

TAG_DOCUMENTS = "văn bản"
TAG_FAQ = "câu hỏi thường gặp"
MULTIPART = "multipart/form-data"
MAX_DOCUMENT_VERSION = 2**62  # the bound of DocumentIn.version, for multipart uploads too
MAX_FILENAME_CHARS = 255  # what a document event may carry (ingest's EVENT_FIELD_MAX_CHARS)
DocumentId = Annotated[str, Depends(document_id_path)]
QUEUED = "queued"  # what the API says of a `pending` record: its change waits in the unit's queue
BULK_DESCRIPTION = (
    "Nhập hàng loạt: văn bản xếp sau các tải lên thông thường của đơn vị; khi hàng đợi nhập hàng loạt "
    "của đơn vị đã đủ hạn mức, yêu cầu bị từ chối tạm thời (429, gửi lại sau `Retry-After` giây)."
)


def status_out(status: DocumentStatus, queue: QueueReading | None = None) -> DocumentStatusOut:
    """The API view of a document status record: a `pending` record reads `queued`, with its place
    in its lane when it was numbered on upload and the unit's queue reading is at hand."""
    waiting = status.status == "pending"
    position = None
    if waiting and queue is not None and status.queue_lane:
        position = queue.position(status.queue_lane, status.queue_ordinal)
    return DocumentStatusOut(
        unit=status.unit,
        document_id=status.document_id,
        status=QUEUED if waiting else status.status,
        queue_position=position,
        queue_lane=status.queue_lane if waiting else "",
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
    if version < 1 or version > MAX_DOCUMENT_VERSION:
        raise ApiProblem(
            INVALID_REQUEST, f"Trường 'version' phải là số nguyên dương không quá {MAX_DOCUMENT_VERSION}."
        )
    return version


def _bounded_metadata(metadata: dict[str, str]) -> dict[str, str]:
    overlong = overlong_metadata_fields(metadata)
    if overlong:
        limits = ", ".join(f"{name} ≤ {METADATA_MAX_CHARS[name]}" for name in overlong)
        raise ApiProblem(INVALID_REQUEST, f"Thông tin mô tả văn bản dài quá giới hạn (ký tự): {limits}.")
    return metadata


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
                        "title": {
                            "type": "string",
                            "maxLength": METADATA_MAX_CHARS["title"],
                            "description": "Tiêu đề văn bản.",
                        },
                        "version": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_DOCUMENT_VERSION,
                            "description": "Phiên bản tăng dần.",
                        },
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
    gateway, require_unit = ctx.gateway, ctx.require_unit

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
        document_id: DocumentId,
        bulk: Annotated[bool, Query(description=BULK_DESCRIPTION)] = False,
    ) -> DocumentStatusOut:
        """Nhận văn bản (JSON `{title, text, version?, metadata?}` hoặc tải tệp multipart với trường
        `file`), lưu bản gốc và phát sự kiện để xử lý; trạng thái `queued` (kèm vị trí trong hàng đợi)
        cho tới khi lập chỉ mục xong. Phiên bản cũ hơn phiên bản đã có bị từ chối (409
        `stale_version`). Nhập hàng loạt (`?bulk=true`) bị từ chối tạm thời (429 `bulk_backlog_full`,
        kèm `Retry-After`) khi hàng đợi nhập hàng loạt của đơn vị đã đủ hạn mức."""
        await require_unit(principal, unit, Scope.WRITE)
        refuse_faq_document(document_id)
        await gateway.ensure_unit(unit)
        if request.headers.get("content-type", "").startswith(MULTIPART):
            form, upload, data = await uploaded_file(request)
            filename, media_type = upload.filename or "upload", upload.content_type or ""
            if len(filename) > MAX_FILENAME_CHARS or len(media_type) > MAX_FILENAME_CHARS:
                raise ApiProblem(
                    INVALID_REQUEST, f"Tên tệp hoặc kiểu tệp dài quá {MAX_FILENAME_CHARS} ký tự."
                )
            document = DocumentUpload(
                data=data,
                filename=filename,
                media_type=media_type,
                title=_bounded_metadata({"title": str(form.get("title") or "")})["title"],
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
                metadata=_bounded_metadata(body.metadata),
            )
        accepted = await gateway.upsert_document(unit, document_id, document, bulk=bulk)
        return status_out(accepted, await gateway.ingest_queue(unit))

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
        document_id: DocumentId,
    ) -> DocumentStatusOut:
        """`queued` (kèm vị trí trong hàng đợi `queue_position`, làn `queue_lane` và hàng đợi của đơn
        vị trong `queue`), `indexed` (kèm số đoạn), `failed` (kèm `code` và lý do tiếng Việt) hoặc
        `deleted`, ví dụ `GET /v1/units/cuc-bao-chi/documents/nd-13-2023`."""
        await require_unit(principal, unit, Scope.READ)
        status = await gateway.document_status(unit, document_id)
        if status.status != "pending":
            return status_out(status)
        queue = await gateway.ingest_queue(unit)
        shown = status_out(status, queue)
        shown.queue = queue_out(queue)
        return shown

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
        document_id: DocumentId,
    ) -> DocumentStatusOut:
        """Phát sự kiện xóa; mọi đoạn của văn bản bị gỡ khỏi chỉ mục (trạng thái chuyển sang
        `deleted`), ví dụ `DELETE /v1/units/cuc-bao-chi/documents/nd-13-2023`. Cán bộ cần xác nhận
        OTP trong vài phút gần nhất (step-up); khóa API của hệ thống đơn vị không cần."""
        await require_unit(principal, unit, Scope.WRITE)
        require_fresh_otp(principal, allow_api_keys=True, now=ctx.clock())
        refuse_faq_document(document_id)
        removing = await gateway.delete_document(unit, document_id)
        return status_out(removing, await gateway.ingest_queue(unit))

    @router.get(
        "/v1/units/{unit}/documents",
        response_model=DocumentList,
        tags=[TAG_DOCUMENTS],
        summary="Danh sách văn bản",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def list_documents(
        principal: CurrentPrincipal,
        unit: Annotated[str, UNIT_PATH],
        limit: PageLimit = DEFAULT_PAGE_SIZE,
        cursor: PageCursor = None,
    ) -> DocumentList:
        """Các văn bản của đơn vị với trạng thái hiện tại (không gồm văn bản đã xóa), theo mã, từng
        trang `limit` mục; `next_cursor` lấy trang sau, ví dụ
        `GET /v1/units/cuc-bao-chi/documents?limit=100`; kèm hàng đợi xử lý
        của đơn vị (`queue`)."""
        await require_unit(principal, unit, Scope.READ)
        page = paginate(
            await gateway.list_documents(unit), key=lambda s: (s.document_id,), limit=limit, cursor=cursor
        )
        queue = await gateway.ingest_queue(unit)
        return DocumentList(
            documents=[status_out(s, queue) for s in page.items],
            next_cursor=page.next_cursor,
            queue=queue_out(queue),
        )

    # ---------------------------------------------------------------- FAQ

    async def save_faq(unit: str, faq_id: str, body: FaqIn) -> FaqOut:
        saved, status = await gateway.put_faq(body.to_entry(unit, faq_id))
        return faq_out(saved, status)

    @router.get(
        "/v1/units/{unit}/faq",
        response_model=FaqList,
        tags=[TAG_FAQ],
        summary="Danh sách câu hỏi thường gặp",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def list_faq(
        principal: CurrentPrincipal,
        unit: Annotated[str, UNIT_PATH],
        limit: PageLimit = DEFAULT_PAGE_SIZE,
        cursor: PageCursor = None,
    ) -> FaqList:
        """Các câu hỏi thường gặp đã duyệt của đơn vị, kèm trạng thái lập chỉ mục, theo mã, từng trang
        `limit` mục; `next_cursor` lấy trang sau, ví dụ `GET /v1/units/cuc-bao-chi/faq`."""
        await require_unit(principal, unit, Scope.READ)
        page = paginate(
            await gateway.list_faq(unit), key=lambda pair: (pair[0].faq_id,), limit=limit, cursor=cursor
        )
        return FaqList(
            entries=[faq_out(entry, status) for entry, status in page.items], next_cursor=page.next_cursor
        )

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
        await require_unit(principal, unit, Scope.WRITE)
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
        await require_unit(principal, unit, Scope.READ)
        entry, status = await gateway.get_faq(unit, faq_id)
        return faq_out(entry, status)

    @router.put(
        "/v1/units/{unit}/faq/{faq_id}",
        response_model=FaqOut,
        tags=[TAG_FAQ],
        summary="Tạo hoặc sửa câu hỏi thường gặp",
        responses={
            200: {"description": "Đã thay thế câu hỏi thường gặp; bản mới đang được lập chỉ mục."},
            201: {
                "description": "Đã tạo câu hỏi thường gặp với mã do đơn vị đặt; `Location` trỏ tới nó.",
                "model": FaqOut,
            },
            **problem_responses(401, 403, 404, 413, 422, 429, 503),
        },
    )
    async def put_faq(
        principal: CurrentPrincipal,
        unit: Annotated[str, UNIT_PATH],
        faq_id: Annotated[str, FAQ_PATH],
        body: FaqIn,
        response: Response,
    ) -> FaqOut:
        """Tạo (201, với mã do đơn vị đặt) hoặc thay thế (200) một câu hỏi thường gặp; bản mới được lập
        chỉ mục lại (trạng thái `pending` rồi `indexed`)."""
        await require_unit(principal, unit, Scope.WRITE)
        created = await gateway.faq.get(unit, faq_id) is None
        saved = await save_faq(unit, faq_id, body)
        if created:
            response.status_code = 201
            response.headers["Location"] = f"/v1/units/{unit}/faq/{faq_id}"
        return saved

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
        await require_unit(principal, unit, Scope.WRITE)
        return status_out(await gateway.delete_faq(unit, faq_id))

    return router


__all__ = ["build_router", "faq_out", "status_out"]
