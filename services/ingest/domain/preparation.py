"""From a raw document to normalised, structured, cited chunks: the ingest domain's one entry point."""

from __future__ import annotations

from services.ingest.domain.chunking import chunk_faq, chunk_outline
from services.ingest.domain.metadata import extract_metadata
from services.ingest.domain.model import (
    FaqEntry,
    IngestError,
    IngestErrorCode,
    IngestLimits,
    ParsedDocument,
    PreparedDocument,
    SourceDocument,
)
from services.ingest.domain.outline import article_hint_from_title, parse_outline
from services.ingest.domain.ports import ParserLookup
from trolyao.documents import Chunk
from trolyao.vietnamese import normalize_text

HTML_MEDIA_TYPES = frozenset({"text/html", "application/xhtml+xml"})
PAGE_SEPARATOR = "\n\n"


def _empty_document(is_faq_sheet: bool) -> IngestError:
    if is_faq_sheet:
        return IngestError(
            IngestErrorCode.EMPTY_DOCUMENT,
            "Bảng hỏi đáp không có dòng nào có đủ câu hỏi và câu trả lời.",
        )
    return IngestError(
        IngestErrorCode.EMPTY_DOCUMENT,
        "Văn bản không có nội dung chữ nào đọc được. Nếu đây là bản quét, hãy kiểm tra chất lượng "
        "bản quét hoặc gửi tệp có lớp chữ.",
    )


def _parse(source: SourceDocument, parsers: ParserLookup, limits: IngestLimits) -> ParsedDocument:
    if source.text is not None:
        limits.ensure_size(len(source.text.encode("utf-8")))
        media_type = source.media_type.split(";")[0].strip().lower()
        if media_type in HTML_MEDIA_TYPES:
            return parsers.parser_for(source.filename, media_type).parse(
                source.text.encode("utf-8"), limits=limits
            )
        return ParsedDocument(text=source.text)
    if not source.data:
        raise _empty_document(is_faq_sheet=False)
    limits.ensure_size(len(source.data))
    parser = parsers.parser_for(source.filename, source.media_type, source.data)
    return parser.parse(source.data, limits=limits)


def _normalised_pages(pages: tuple[str, ...]) -> tuple[str, list[int]]:
    """The pages' normalised text joined by blank lines, and the first line of each page."""
    text_parts: list[str] = []
    page_starts: list[int] = []
    line = 0
    for page in pages:
        page_starts.append(line)
        normalised = normalize_text(page)
        text_parts.append(normalised)
        line += normalised.count("\n") + PAGE_SEPARATOR.count("\n")
    return PAGE_SEPARATOR.join(text_parts), page_starts


def _faq_text(entries: tuple[FaqEntry, ...]) -> str:
    return "\n\n".join(
        "\n".join([*(f"Hỏi: {question}" for question in entry.questions), f"Đáp: {entry.answer}"])
        for entry in entries
    )


def prepare_document(
    source: SourceDocument, *, parsers: ParserLookup, limits: IngestLimits
) -> PreparedDocument:
    """Parse, normalise, describe and chunk one document.

    Enforces `limits` (size before parsing, pages as soon as the parser can count them, chunks
    after chunking) and raises `IngestError` with a stable `code` and a Vietnamese `message` for
    anything that stops the document: unsupported format, too large, too many pages or chunks,
    empty, unreadable, or a scan when OCR is not installed. Metadata found in the document is
    merged under `source.metadata` (the caller's fields win).
    """
    parsed = _parse(source, parsers, limits)
    limits.ensure_pages(len(parsed.pages))
    if parsed.pages:
        text, page_starts = _normalised_pages(parsed.pages)
    else:
        text, page_starts = normalize_text(parsed.text), []
    stated_title = normalize_text(source.metadata.title)
    chunks: list[Chunk] = chunk_faq(parsed.faq_entries, max_answer_chars=limits.max_faq_answer_chars)
    if text:
        outline = parse_outline(text, article_hint=article_hint_from_title(stated_title))
        chunks += chunk_outline(
            outline, max_chars=limits.max_chunk_chars, page_starts=page_starts, first_ordinal=len(chunks)
        )
    if not chunks:
        raise _empty_document(is_faq_sheet=parsed.is_faq_sheet)
    limits.ensure_chunks(len(chunks))
    metadata = extract_metadata(
        text,
        stated=source.metadata,
        format_title=normalize_text(parsed.title),
        format_source_url=parsed.source_url,
        filename=source.filename,
    )
    full_text = "\n\n".join(part for part in (_faq_text(parsed.faq_entries), text) if part)
    return PreparedDocument(metadata=metadata, chunks=tuple(chunks), text=full_text)


__all__ = ["prepare_document"]
