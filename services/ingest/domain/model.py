"""Domain types of the ingest service (no I/O): a raw document in, a prepared document out."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from trolyao.documents import Chunk, DocumentMetadata

MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 25 * MIB
DEFAULT_MAX_UNPACKED_BYTES = 200 * MIB
DEFAULT_MAX_PAGES = 300
DEFAULT_MAX_CHUNKS = 5000
DEFAULT_MAX_CHUNK_CHARS = 1000
DEFAULT_MAX_FAQ_ANSWER_CHARS = 4000
MIN_CHUNK_CHARS = 200


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """A document as it arrives: a file (`data`) or inline text from a JSON request (`text`).

    `metadata` is what the caller stated; it wins over anything found in the document.
    """

    document_id: str
    filename: str
    media_type: str
    data: bytes | None
    text: str | None
    metadata: DocumentMetadata = field(default_factory=DocumentMetadata)


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """Bounds on one document; exceeding one is a clear, non-retryable `IngestError`.

    FAQ answers are curated and kept whole up to `max_faq_answer_chars`, which is why they have
    their own bound; every passage chunk is at most `max_chunk_chars` long.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES
    max_pages: int = DEFAULT_MAX_PAGES
    max_chunks: int = DEFAULT_MAX_CHUNKS
    max_chunk_chars: int = DEFAULT_MAX_CHUNK_CHARS
    max_faq_answer_chars: int = DEFAULT_MAX_FAQ_ANSWER_CHARS

    def __post_init__(self) -> None:
        if self.max_chunk_chars < MIN_CHUNK_CHARS:
            raise ValueError(f"max_chunk_chars must be at least {MIN_CHUNK_CHARS}")
        if min(self.max_bytes, self.max_unpacked_bytes, self.max_pages, self.max_chunks) <= 0:
            raise ValueError("ingest limits must be positive")
        if self.max_faq_answer_chars < self.max_chunk_chars:
            raise ValueError("max_faq_answer_chars must be at least max_chunk_chars")

    def ensure_size(self, size: int) -> None:
        """Raise `too_large` when a file of `size` bytes is over the limit."""
        if size > self.max_bytes:
            raise IngestError(
                IngestErrorCode.TOO_LARGE,
                f"Tệp có dung lượng {vietnamese_megabytes(size)}, vượt quá giới hạn "
                f"{vietnamese_megabytes(self.max_bytes)} cho mỗi văn bản. "
                "Hãy tách văn bản thành nhiều tệp nhỏ hơn.",
                detail=f"size={size} max_bytes={self.max_bytes}",
            )

    def ensure_unpacked_size(self, size: int) -> None:
        """Raise `too_large` when a compressed file (.docx, .xlsx) unpacks to more than allowed."""
        if size > self.max_unpacked_bytes:
            raise IngestError(
                IngestErrorCode.TOO_LARGE,
                f"Nội dung tệp sau khi giải nén có dung lượng {vietnamese_megabytes(size)}, vượt quá "
                f"giới hạn {vietnamese_megabytes(self.max_unpacked_bytes)}. "
                "Hãy tách văn bản thành nhiều tệp nhỏ hơn.",
                detail=f"unpacked_size={size} max_unpacked_bytes={self.max_unpacked_bytes}",
            )

    def ensure_pages(self, page_count: int) -> None:
        """Raise `too_many_pages` when a document has more pages than allowed."""
        if page_count > self.max_pages:
            raise IngestError(
                IngestErrorCode.TOO_MANY_PAGES,
                f"Văn bản có {vietnamese_number(page_count)} trang, vượt quá giới hạn "
                f"{vietnamese_number(self.max_pages)} trang cho mỗi văn bản. "
                "Hãy tách văn bản thành nhiều tệp nhỏ hơn.",
                detail=f"pages={page_count} max_pages={self.max_pages}",
            )

    def ensure_chunks(self, chunk_count: int) -> None:
        """Raise `too_many_chunks` when a document is cut into more chunks than allowed."""
        if chunk_count > self.max_chunks:
            raise IngestError(
                IngestErrorCode.TOO_MANY_CHUNKS,
                f"Văn bản được chia thành {vietnamese_number(chunk_count)} đoạn, vượt quá giới hạn "
                f"{vietnamese_number(self.max_chunks)} đoạn cho mỗi văn bản. "
                "Hãy tách văn bản thành nhiều tệp nhỏ hơn.",
                detail=f"chunks={chunk_count} max_chunks={self.max_chunks}",
            )


def vietnamese_number(value: int) -> str:
    """12345 → "12.345" (Vietnamese groups thousands with dots)."""
    return f"{value:,}".replace(",", ".")


def vietnamese_megabytes(size: int) -> str:
    """26843546 → "25,6 MB" (Vietnamese uses a decimal comma)."""
    return f"{size / MIB:.1f}".replace(".", ",") + " MB"


class IngestErrorCode(StrEnum):
    """Stable machine-readable reasons; dead-letter records and `GET` status carry them."""

    UNSUPPORTED_FORMAT = "unsupported_format"
    TOO_LARGE = "too_large"
    TOO_MANY_PAGES = "too_many_pages"
    TOO_MANY_CHUNKS = "too_many_chunks"
    EMPTY_DOCUMENT = "empty_document"
    PARSE_ERROR = "parse_error"
    ENCRYPTED_DOCUMENT = "encrypted_document"
    UNKNOWN_ENCODING = "unknown_encoding"
    OCR_UNAVAILABLE = "ocr_unavailable"
    OCR_FAILED = "ocr_failed"


class IngestError(Exception):
    """A document that cannot be prepared, with a reason a machine and a civil servant understand.

    `code` is stable (see `IngestErrorCode`); `message` is one Vietnamese sentence or two for the
    unit's staff; `retryable` says whether trying the same document again later may succeed;
    `detail` is technical context for operators (never shown to end users).
    """

    def __init__(
        self, code: IngestErrorCode | str, message: str, *, retryable: bool = False, detail: str = ""
    ) -> None:
        super().__init__(message)
        self.code = IngestErrorCode(code)
        self.message = message
        self.retryable = retryable
        self.detail = detail

    def __repr__(self) -> str:
        return f"IngestError(code={self.code.value!r}, message={self.message!r}, retryable={self.retryable})"


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """One question–answer row of an FAQ sheet; `questions` holds the main one first."""

    questions: tuple[str, ...]
    answer: str
    location: str
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """What a parser read from a file, before normalisation and chunking.

    `text` is Markdown-flavoured plain text: headings as `#` lines and tables as `|` rows where
    the format has them. `pages`, when the format has pages, holds each page's text (and `text`
    is empty). `title` and `source_url` come from the file's own metadata, when it has any.
    `is_faq_sheet` says the file had question and answer columns, even if no row filled both.
    """

    text: str = ""
    pages: tuple[str, ...] = ()
    faq_entries: tuple[FaqEntry, ...] = ()
    is_faq_sheet: bool = False
    title: str = ""
    source_url: str = ""


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A document ready to index: merged metadata, its chunks in order, its normalised text."""

    metadata: DocumentMetadata
    chunks: tuple[Chunk, ...]
    text: str


__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_CHUNKS",
    "DEFAULT_MAX_CHUNK_CHARS",
    "DEFAULT_MAX_PAGES",
    "FaqEntry",
    "IngestError",
    "IngestErrorCode",
    "IngestLimits",
    "ParsedDocument",
    "PreparedDocument",
    "SourceDocument",
]
