"""`prepare_document`: limits, empty documents, inline text, normalisation and metadata merging."""

from __future__ import annotations

import unicodedata

import pytest

from services.ingest.adapters.parsers import ParserRegistry, default_parsers
from services.ingest.domain.model import (
    IngestError,
    IngestErrorCode,
    IngestLimits,
    PreparedDocument,
    SourceDocument,
)
from services.ingest.domain.preparation import prepare_document
from trolyao.documents import DocumentMetadata

PARAGRAPH = "Bộ phận một cửa tiếp nhận hồ sơ của tổ chức, cá nhân theo quy định hiện hành. " * 3


@pytest.fixture(scope="module")
def parsers() -> ParserRegistry:
    return default_parsers()


def _inline(
    parsers: ParserRegistry,
    text: str,
    *,
    limits: IngestLimits | None = None,
    metadata: DocumentMetadata | None = None,
    media_type: str = "",
) -> PreparedDocument:
    source = SourceDocument("d1", "", media_type, None, text, metadata or DocumentMetadata())
    return prepare_document(source, parsers=parsers, limits=limits or IngestLimits())


def _file(
    parsers: ParserRegistry, filename: str, data: bytes, limits: IngestLimits | None = None
) -> PreparedDocument:
    source = SourceDocument("d1", filename, "", data, None)
    return prepare_document(source, parsers=parsers, limits=limits or IngestLimits())


def test_too_large_file_is_refused_with_a_vietnamese_reason(parsers: ParserRegistry) -> None:
    limits = IngestLimits(max_bytes=1024 * 1024)
    with pytest.raises(IngestError) as caught:
        _file(parsers, "lon.txt", b"a" * (3 * 1024 * 1024 + 200_000), limits)
    error = caught.value
    assert error.code is IngestErrorCode.TOO_LARGE
    assert error.code.value == "too_large"
    assert not error.retryable
    assert error.message.startswith("Tệp có dung lượng 3,2 MB, vượt quá giới hạn 1,0 MB cho mỗi văn bản.")
    with pytest.raises(IngestError) as caught:
        _inline(parsers, "ư" * 600_000, limits=limits)  # two bytes a character in UTF-8
    assert caught.value.code == "too_large"


def test_too_many_chunks(parsers: ParserRegistry) -> None:
    text = "\n\n".join(f"Mục {n}. {PARAGRAPH * 3}" for n in range(1, 8))
    with pytest.raises(IngestError) as caught:
        _inline(parsers, text, limits=IngestLimits(max_chunks=2))
    assert caught.value.code == "too_many_chunks"
    assert "vượt quá giới hạn 2 đoạn cho mỗi văn bản" in caught.value.message


@pytest.mark.parametrize("content", [b"", b"   \n\n\t  ", "\u00ad\u200b\n\ufeff".encode()])
def test_empty_file(parsers: ParserRegistry, content: bytes) -> None:
    with pytest.raises(IngestError) as caught:
        _file(parsers, "rong.txt", content)
    assert caught.value.code == IngestErrorCode.EMPTY_DOCUMENT
    assert "không có nội dung" in caught.value.message


def test_empty_inline_text(parsers: ParserRegistry) -> None:
    with pytest.raises(IngestError) as caught:
        _inline(parsers, "  \n ")
    assert caught.value.code == "empty_document"


def test_unsupported_format_through_prepare(parsers: ParserRegistry) -> None:
    with pytest.raises(IngestError) as caught:
        _file(parsers, "bao-cao.pptx", b"PK\x03\x04 not a document we read")
    assert caught.value.code == "unsupported_format"
    assert "“.pptx”" in caught.value.message
    assert ".pdf, .docx, .xlsx, .csv" in caught.value.message


def test_text_is_normalised_before_chunking(parsers: ParserRegistry) -> None:
    raw = unicodedata.normalize(
        "NFD", "Hoà giải ở cơ sở do Uỷ ban nhân dân xã chủ trì.\r\n\r\n\r\nThuý  ơi,\u00a0khoẻ không?"
    )
    prepared = _inline(parsers, raw)
    assert prepared.text == "Hòa giải ở cơ sở do Ủy ban nhân dân xã chủ trì.\n\nThúy ơi, khỏe không?"
    assert prepared.chunks[0].text == prepared.text
    assert unicodedata.is_normalized("NFC", prepared.chunks[0].text)


def test_inline_markdown_and_caller_metadata(parsers: ParserRegistry) -> None:
    text = f"# Quy trình tiếp nhận\n\n{PARAGRAPH}\n\n## Trả kết quả\n\n{PARAGRAPH * 4}"
    stated = DocumentMetadata(title="Quy trình một cửa", source_url="https://mic.gov.vn/quy-trinh")
    prepared = _inline(parsers, text, metadata=stated)
    assert prepared.metadata.title == "Quy trình một cửa"
    assert prepared.metadata.source_url == "https://mic.gov.vn/quy-trinh"
    assert [chunk.path for chunk in prepared.chunks][-1] == "Quy trình tiếp nhận > Trả kết quả"


def test_corpus_line_is_cited_by_its_article(parsers: ParserRegistry) -> None:
    stated = DocumentMetadata(title="91/2015/QH13 - Điều 1. Phạm vi điều chỉnh")
    text = "Phạm vi điều chỉnh\n\nBộ luật này quy định địa vị pháp lý, chuẩn mực pháp lý về cách ứng xử."
    prepared = _inline(parsers, text, metadata=stated)
    assert [chunk.path for chunk in prepared.chunks] == ["Điều 1"]
    assert prepared.metadata.number == "91/2015/QH13"
    assert prepared.metadata.title == stated.title


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        IngestLimits(max_chunk_chars=50)
    with pytest.raises(ValueError):
        IngestLimits(max_pages=0)
    assert IngestLimits().max_bytes == 25 * 1024 * 1024


def test_ingest_error_carries_code_message_and_retryability() -> None:
    error = IngestError("ocr_failed", "Nhận dạng chữ quá thời gian.", retryable=True, detail="timeout")
    assert error.code is IngestErrorCode.OCR_FAILED
    assert str(error) == "Nhận dạng chữ quá thời gian."
    assert error.retryable and error.detail == "timeout"
    with pytest.raises(ValueError):
        IngestError("no_such_code", "?")
