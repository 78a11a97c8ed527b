"""A document as the index holds it: read its passages (what a citation points at), rebuild it.

- `GET /v1/units/{unit}/documents/{document_id}/chunks`: the indexed passages of one document, in
  order, with their structural path (Chương / Điều / Khoản), so that a citation (`document_id` +
  `chunk_ordinal`) opens the very passage it quotes. Read scope on the unit.
- `POST /v1/units/{unit}/documents/{document_id}/reindex`: republish the document's upsert event
  from the original kept in the object store with `reindex: true`, so ingest parses, chunks and
  indexes it again even though that version is already indexed (after a parser fix, or to retry a
  failed document). Write scope on the unit. Exactly what `trolyao reindex` does for a whole unit.

Both go through the one authentication dependency and the one `require` check of `RouteContext`.
"""

from typing import Annotated

from fastapi import APIRouter, Depends
from google.protobuf import json_format

from services.gateway.adapters.backends import call_backend
from services.gateway.domain.authorization import Principal, Scope
from services.gateway.domain.problems import DOCUMENT_NOT_FOUND, INVALID_REQUEST, ApiProblem
from services.gateway.entrypoints.document_paths import document_id_path
from services.gateway.entrypoints.routes_documents import status_out
from services.gateway.entrypoints.routing import UNIT_PATH, RouteContext, problem_responses
from services.gateway.entrypoints.schemas.document_index import ChunkOut, DocumentChunksOut
from services.gateway.entrypoints.schemas.documents import DocumentStatusOut
from trolyao.audit import GATEWAY_EVENT_SOURCE
from trolyao.docstatus import reindex_event
from trolyao.logs import get_logger
from trolyao.messaging import upsert_subject
from trolyao.v1 import documents_pb2, retrieval_pb2

log = get_logger("gateway")

TAG_DOCUMENTS = "văn bản"
REINDEXABLE_STATES = frozenset({"indexed", "failed"})
_CHUNK_KINDS = {
    documents_pb2.CHUNK_KIND_PASSAGE: "passage",
    documents_pb2.CHUNK_KIND_FAQ: "faq",
}


def _chunks_out(unit: str, reply: retrieval_pb2.GetDocumentChunksResponse) -> DocumentChunksOut:
    metadata = reply.metadata
    return DocumentChunksOut(
        unit=unit,
        document_id=reply.document_id,
        version=reply.version,
        title=metadata.title,
        number=metadata.number,
        issuer=metadata.issuer,
        issued_date=metadata.issued_date,
        effective_date=metadata.effective_date,
        doc_type=metadata.doc_type,
        source_url=metadata.source_url,
        chunks=[
            ChunkOut(
                ordinal=chunk.ordinal,
                text=chunk.text,
                path=chunk.path,
                kind=_CHUNK_KINDS.get(chunk.kind, "passage"),
                question=chunk.question,
            )
            for chunk in sorted(reply.chunks, key=lambda c: c.ordinal)
        ],
    )


def build_router(ctx: RouteContext) -> APIRouter:
    """Routes /v1/units/{unit}/documents/{document_id}/chunks and /reindex."""
    router = APIRouter()
    CurrentPrincipal = Annotated[Principal, Depends(ctx.principal)]
    gateway, require_unit = ctx.gateway, ctx.require_unit

    @router.get(
        "/v1/units/{unit}/documents/{document_id}/chunks",
        response_model=DocumentChunksOut,
        tags=[TAG_DOCUMENTS],
        summary="Các đoạn đã lập chỉ mục của văn bản",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def document_chunks(
        principal: CurrentPrincipal,
        unit: Annotated[str, UNIT_PATH],
        document_id: Annotated[str, Depends(document_id_path)],
    ) -> DocumentChunksOut:
        """Toàn bộ các đoạn của văn bản theo thứ tự, kèm vị trí (Chương / Điều / Khoản), đúng như trợ lý
        dùng để trả lời: trích dẫn (`document_id`, `chunk_ordinal`) mở đúng đoạn được trích, ví dụ
        `GET /v1/units/cuc-bao-chi/documents/nd-13-2023/chunks`. 404 khi văn bản chưa được lập chỉ mục
        hoặc đã bị xóa."""
        await require_unit(principal, unit, Scope.READ)
        reply = await call_backend(
            "retrieval",
            gateway.backends.retrieval(unit).GetDocumentChunks(
                retrieval_pb2.GetDocumentChunksRequest(unit=unit, document_id=document_id),
                timeout=gateway.backends.timeout,
            ),
            not_found=DOCUMENT_NOT_FOUND,
        )
        return _chunks_out(unit, reply)

    @router.post(
        "/v1/units/{unit}/documents/{document_id}/reindex",
        response_model=DocumentStatusOut,
        status_code=202,
        tags=[TAG_DOCUMENTS],
        summary="Lập chỉ mục lại văn bản",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def reindex_document(
        principal: CurrentPrincipal,
        unit: Annotated[str, UNIT_PATH],
        document_id: Annotated[str, Depends(document_id_path)],
    ) -> DocumentStatusOut:
        """Xử lý lại văn bản từ bản gốc đã lưu (phân tích, cắt đoạn, lập chỉ mục) mà không cần tải lên
        lại, ví dụ sau khi sửa lỗi đọc tệp hoặc để thử lại văn bản bị lỗi. Trả về trạng thái hiện tại;
        khi xong, `updated_at` của trạng thái đổi và `status` là `indexed` hoặc `failed`."""
        await require_unit(principal, unit, Scope.WRITE)
        status = await gateway.document_status(unit, document_id)
        if status.status not in REINDEXABLE_STATES or not status.object_name:
            raise ApiProblem(
                INVALID_REQUEST,
                "Chỉ lập chỉ mục lại được văn bản đã xử lý xong (đã lập chỉ mục hoặc bị lỗi) và còn bản gốc.",
            )
        event = reindex_event(status, source=GATEWAY_EVENT_SOURCE)
        await gateway.backends.js.publish(
            upsert_subject(unit),
            json_format.MessageToJson(event).encode(),
            headers={"Nats-Msg-Id": event.event_id},
        )
        log.info("document_reindex_published", unit=unit, version=status.version)
        return status_out(status)

    return router


__all__ = ["ChunkOut", "DocumentChunksOut", "build_router"]
