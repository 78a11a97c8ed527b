"""Document ids in URL paths: `/v1/units/{unit}/documents/13%2F2023%2FN%C4%90-CP`.

A unit's document id may hold `/` (`13/2023/NĐ-CP`); clients percent-encode it. The ASGI server
decodes the path before Starlette routes it, so `%2F` would become a separator and the route would
never match (or match `…/chunks` for an id ending in `/chunks`). `EncodedSlashes` re-reads the raw
path and hands routing a path in which a decoded `/` inside a segment stands as `SLASH_STAND_IN`, a
control character no valid id holds; the `document_id` dependency turns it back into `/` and
checks the id (`trolyao.document_ids`): NFC, at most 200 characters, no control characters. Ids
beginning `faq-` belong to FAQ entries: readable here, written only through the FAQ routes.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from fastapi import Path, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.domain.faq import FAQ_DOCUMENT_PREFIX
from services.gateway.domain.problems import INVALID_REQUEST, ApiProblem
from trolyao.document_ids import MAX_DOCUMENT_ID_CHARS, InvalidDocumentId, canonical_document_id

SLASH_STAND_IN = "\x1f"
ENCODED_SLASHES_SCOPE_KEY = "trolyao.encoded_slashes"
_ENCODED_SLASH = b"%2f"

DOCUMENT_ID_DESCRIPTION = (
    f"Mã văn bản do đơn vị đặt, ví dụ số hiệu `13/2023/NĐ-CP`: tối đa {MAX_DOCUMENT_ID_CHARS} ký tự "
    "UTF-8, không có ký tự điều khiển hay khoảng trắng ở đầu/cuối, mã hóa phần trăm trong đường dẫn "
    "(`13%2F2023%2FN%C4%90-CP`). Dạng Unicode NFC và NFD của cùng một mã là một văn bản. Mã bắt đầu "
    "bằng `faq-` dành cho câu hỏi thường gặp: chỉ tạo, sửa, xóa qua `/v1/units/{unit}/faq` (422 ở đây)."
)
DOCUMENT_PATH = Path(description=DOCUMENT_ID_DESCRIPTION, examples=["13/2023/NĐ-CP"])


class EncodedSlashes:
    """Let routing see a percent-encoded `/` as part of its path segment (see the module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = scope.get("raw_path") if scope["type"] == "http" else None
        if raw_path and _ENCODED_SLASH in raw_path.lower():
            raw = raw_path.split(b"?", 1)[0].decode("latin-1")
            segments = [unquote(segment) for segment in raw.split("/")]
            # A segment already holding the stand-in is left alone: the id check then refuses it.
            if not any(SLASH_STAND_IN in segment for segment in segments):
                path = "/".join(segment.replace("/", SLASH_STAND_IN) for segment in segments)
                scope = {**scope, "path": path, ENCODED_SLASHES_SCOPE_KEY: True}
        await self.app(scope, receive, send)


def checked_document_id(document_id: str) -> str:
    """The canonical id, or 422 with the reason in Vietnamese."""
    try:
        canonical = canonical_document_id(document_id)
    except InvalidDocumentId as error:
        raise ApiProblem(INVALID_REQUEST, error.message) from error
    return canonical


async def document_id_path(request: Request, document_id: Annotated[str, DOCUMENT_PATH]) -> str:
    """The `{document_id}` path parameter as a canonical document id (a FastAPI dependency)."""
    if request.scope.get(ENCODED_SLASHES_SCOPE_KEY):
        document_id = document_id.replace(SLASH_STAND_IN, "/")
    return checked_document_id(document_id)


def refuse_faq_document(document_id: str) -> None:
    """Documents named `faq-…` are FAQ entries: created, changed and deleted only through the FAQ routes."""
    if document_id.startswith(FAQ_DOCUMENT_PREFIX):
        raise ApiProblem(
            INVALID_REQUEST,
            "Mã văn bản bắt đầu bằng 'faq-' dành cho câu hỏi thường gặp; hãy dùng /v1/units/{unit}/faq.",
        )


__all__ = [
    "DOCUMENT_ID_DESCRIPTION",
    "DOCUMENT_PATH",
    "SLASH_STAND_IN",
    "EncodedSlashes",
    "checked_document_id",
    "document_id_path",
    "refuse_faq_document",
]
