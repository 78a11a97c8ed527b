"""File-format parsers, each a thin layer over a well-kept library, and the registry that picks one.

| format | library | what is kept |
|---|---|---|
| .txt, .md | charset-normalizer (when not UTF-8) | the text; `#` headings of Markdown |
| .html, .htm | trafilatura | the main content (no menus, footers): headings, paragraphs, lists, tables |
| .pdf | pypdf; OCR for pages without a text layer | text page by page |
| .docx | python-docx | paragraphs, Word headings as `#` lines, tables as `|` rows |
| .xlsx, .csv | openpyxl, csv | FAQ sheets (question/answer columns) as entries; other sheets as tables |
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import PurePath
from typing import Any

import charset_normalizer
import docx
import openpyxl
import trafilatura
from docx.table import Table
from docx.text.paragraph import Paragraph
from lxml import etree
from pypdf import PdfReader

from services.ingest.adapters.ocr import ScannedPageReader, TesseractPageReader
from services.ingest.domain.faq import find_faq_columns, read_faq_entries
from services.ingest.domain.model import (
    FaqEntry,
    IngestError,
    IngestErrorCode,
    IngestLimits,
    ParsedDocument,
)
from services.ingest.domain.ports import DocumentParser

logger = logging.getLogger(__name__)

ACCEPTED_FORMATS = ".txt, .md, .html, .htm, .pdf, .docx, .xlsx, .csv"
# A PDF page with fewer characters than this in its text layer is treated as a scan.
MIN_TEXT_LAYER_CHARS = 16
MARKDOWN_MAX_HEADING_LEVEL = 6
DEFAULT_HTML_HEADING_LEVEL = 2
CSV_SNIFF_CHARS = 8192
CSV_DELIMITERS = ",;\t"
ZIP_MAGIC = b"PK\x03\x04"
PDF_MAGIC = b"%PDF-"
HTML_SNIFF_BYTES = 512
# trafilatura already drops most boilerplate; these go even when it falls back to the whole page.
HTML_BOILERPLATE_XPATH = (
    "//nav|//footer|//aside|//form|//*[@role='navigation']|//*[@role='banner']|//*[@role='contentinfo']"
)
_LEGACY_FORMAT_HINTS = {
    ".doc": "Tệp .doc (Word 97–2003) chưa được hỗ trợ: hãy mở bằng Word và lưu lại dưới dạng .docx.",
    ".xls": "Tệp .xls (Excel 97–2003) chưa được hỗ trợ: hãy mở bằng Excel và lưu lại dưới dạng .xlsx.",
    ".rtf": "Tệp .rtf chưa được hỗ trợ: hãy lưu lại dưới dạng .docx.",
}
_HEADING_STYLE = re.compile(r"^heading\s+(\d)$", re.IGNORECASE)
_HTML_HEADING = re.compile(r"^h(\d)$")
_WHITESPACE = re.compile(r"\s+")


# --- shared helpers ----------------------------------------------------------------------------


@contextmanager
def _library_errors(format_name: str) -> Iterator[None]:
    """Turn a parsing library's own exception into a non-retryable `parse_error`."""
    try:
        yield
    except IngestError:
        raise
    except Exception as error:
        raise IngestError(
            IngestErrorCode.PARSE_ERROR,
            f"Không đọc được tệp {format_name}: tệp có thể bị hỏng hoặc không đúng định dạng.",
            detail=f"{type(error).__name__}: {error}",
        ) from error


def decode_text(data: bytes) -> str:
    """Text of a file: UTF-8 (with or without BOM), UTF-16 with BOM, else the detected encoding.

    Legacy Vietnamese files are often Windows-1258, which charset-normalizer recognises.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise IngestError(
            IngestErrorCode.UNKNOWN_ENCODING,
            "Không nhận ra bảng mã ký tự của tệp văn bản. Hãy lưu tệp dưới dạng Unicode (UTF-8) rồi gửi lại.",
        )
    return str(best)


def _ensure_unpacked_size(data: bytes, limits: IngestLimits) -> None:
    """Guard against archives (.docx, .xlsx) that unpack to far more than their size."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        limits.ensure_unpacked_size(sum(info.file_size for info in archive.infolist()))


def _one_line(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _table_cell(text: str) -> str:
    return _one_line(text).replace("|", "/")


def _markdown_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows as a Markdown table, the first row as header."""
    width = max((len(row) for row in rows), default=0)
    if width == 0:
        return ""
    lines = []
    for position, row in enumerate(rows):
        cells = [_table_cell(cell) for cell in row] + [""] * (width - len(row))
        lines.append("| " + " | ".join(cells) + " |")
        if position == 0:
            lines.append("|" + "---|" * width)
    return "\n".join(lines)


# --- plain text and Markdown -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlainTextParser:
    """.txt and .md files: the text as written (Markdown `#` headings are read by the chunker)."""

    format_name: str = "văn bản (.txt)"

    def parse(self, data: bytes, *, limits: IngestLimits) -> ParsedDocument:
        """Decode the file's text."""
        return ParsedDocument(text=decode_text(data))


# --- HTML --------------------------------------------------------------------------------------


def _inline_text(element: etree._Element) -> str:
    parts = [element.text or ""]
    for child in element:
        parts.append("\n" if child.tag == "lb" else _inline_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _html_blocks(element: etree._Element) -> list[str]:
    """trafilatura's XML (head, p, list, table, ...) as Markdown-flavoured blocks."""
    blocks: list[str] = []
    for child in element:
        tag = child.tag
        if tag == "head":
            match = _HTML_HEADING.match(str(child.get("rend", "")))
            level = int(match.group(1)) if match else DEFAULT_HTML_HEADING_LEVEL
            level = min(max(level, 1), MARKDOWN_MAX_HEADING_LEVEL)
            blocks.append("#" * level + " " + _one_line(_inline_text(child)))
        elif tag == "list":
            items = [_one_line(_inline_text(item)) for item in child.iter("item")]
            blocks.append("\n".join(f"- {item}" for item in items if item))
        elif tag == "table":
            rows = [[_inline_text(cell) for cell in row.iter("cell")] for row in child.iter("row")]
            blocks.append(_markdown_table([row for row in rows if any(cell.strip() for cell in row)]))
        elif tag in ("p", "quote", "code"):
            blocks.append(_inline_text(child).strip())
        else:
            blocks.extend(_html_blocks(child))
    return [block for block in blocks if block.strip()]


@dataclass(frozen=True, slots=True)
class HtmlParser:
    """Web pages: the main content by trafilatura, without menus, headers and footers."""

    format_name: str = "HTML"

    def parse(self, data: bytes, *, limits: IngestLimits) -> ParsedDocument:
        """Extract the page's main content and its title and canonical URL."""
        with _library_errors(self.format_name):
            xml = trafilatura.extract(
                data,
                output_format="xml",
                include_tables=True,
                include_comments=False,
                include_formatting=False,
                include_links=False,
                include_images=False,
                prune_xpath=HTML_BOILERPLATE_XPATH,
            )
            text = ""
            if xml:
                root = etree.fromstring(xml.encode("utf-8"))
                main = root.find("main")
                text = "\n\n".join(_html_blocks(main if main is not None else root))
            if not text.strip():
                text = trafilatura.html2txt(data) or ""
            metadata = trafilatura.extract_metadata(data)
        return ParsedDocument(
            text=text,
            title=(metadata.title or "") if metadata else "",
            source_url=(metadata.url or "") if metadata else "",
        )


# --- PDF ---------------------------------------------------------------------------------------


class PdfParser:
    """PDF files: the text layer page by page (pypdf); pages without one go to OCR."""

    format_name = "PDF"

    def __init__(self, scanned_pages: ScannedPageReader | None) -> None:
        self._scanned_pages = scanned_pages

    def parse(self, data: bytes, *, limits: IngestLimits) -> ParsedDocument:
        """Read every page, checking the page limit before reading any."""
        with _library_errors(self.format_name):
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise IngestError(
                    IngestErrorCode.ENCRYPTED_DOCUMENT,
                    "Tệp PDF được đặt mật khẩu nên không đọc được. Hãy gỡ mật khẩu rồi gửi lại.",
                )
            limits.ensure_pages(len(reader.pages))
            pages = [page.extract_text() or "" for page in reader.pages]
            title = str(reader.metadata.title or "") if reader.metadata else ""
        scanned = [index for index, text in enumerate(pages) if len(text.strip()) < MIN_TEXT_LAYER_CHARS]
        if scanned:
            pages = self._read_scanned(data, pages, scanned)
        return ParsedDocument(pages=tuple(pages), title=title)

    def _read_scanned(self, data: bytes, pages: list[str], scanned: list[int]) -> list[str]:
        if self._scanned_pages is None:
            if len(scanned) == len(pages):
                raise IngestError(
                    IngestErrorCode.OCR_UNAVAILABLE,
                    "Văn bản là bản quét (không có lớp chữ) nhưng hệ thống chưa bật nhận dạng chữ.",
                )
            return pages
        recognised = self._scanned_pages.read_pages(data, scanned)
        logger.info("pdf pages read by ocr", extra={"ocr_pages": len(scanned), "pages": len(pages)})
        return [recognised.get(index, text) or text for index, text in enumerate(pages)]


# --- Word --------------------------------------------------------------------------------------


def _docx_paragraph(paragraph: Paragraph) -> str:
    text = paragraph.text.strip()
    if not text:
        return ""
    style_name = paragraph.style.name if paragraph.style is not None and paragraph.style.name else ""
    level = 1 if style_name.lower() == "title" else 0
    if match := _HEADING_STYLE.match(style_name):
        level = min(max(int(match.group(1)), 1), MARKDOWN_MAX_HEADING_LEVEL)
    return "#" * level + " " + _one_line(text) if level else text


def _docx_table(table: Table) -> str:
    rows: list[list[str]] = []
    for row in table.rows:
        cells: list[str] = []
        previous: Any = None
        for cell in row.cells:
            if cell._tc is previous:  # a merged cell is repeated once per grid column it spans
                continue
            previous = cell._tc
            cells.append(cell.text)
        if any(cell.strip() for cell in cells):
            rows.append(cells)
    return _markdown_table(rows)


@dataclass(frozen=True, slots=True)
class DocxParser:
    """Word files: paragraphs in order, heading styles as `#` lines, tables as `|` rows."""

    format_name: str = "Word (.docx)"

    def parse(self, data: bytes, *, limits: IngestLimits) -> ParsedDocument:
        """Read the document body (headers, footers and text boxes are not read)."""
        with _library_errors(self.format_name):
            _ensure_unpacked_size(data, limits)
            document = docx.Document(io.BytesIO(data))
            blocks = [
                _docx_paragraph(item) if isinstance(item, Paragraph) else _docx_table(item)
                for item in document.iter_inner_content()
            ]
            title = document.core_properties.title or ""
        return ParsedDocument(text="\n\n".join(block for block in blocks if block), title=title)


# --- spreadsheets ------------------------------------------------------------------------------


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


def _numbered_rows(rows: Iterable[Sequence[object]]) -> list[tuple[int, list[str]]]:
    numbered = []
    for number, row in enumerate(rows, start=1):
        cells = [_cell_text(value) for value in row]
        if any(cells):
            numbered.append((number, cells))
    return numbered


@dataclass(frozen=True, slots=True)
class _SheetContent:
    entries: tuple[FaqEntry, ...]
    text: str
    is_faq: bool


def _read_sheet(rows: list[tuple[int, list[str]]], sheet_name: str, location_prefix: str) -> _SheetContent:
    """An FAQ sheet's entries, or any other sheet as a table under its name."""
    columns = find_faq_columns(rows)
    if columns is not None:
        entries = read_faq_entries(rows, columns, location_prefix=location_prefix)
        return _SheetContent(tuple(entries), "", is_faq=True)
    table = _markdown_table([cells for _, cells in rows])
    heading = f"# {sheet_name}\n\n" if sheet_name and table else ""
    return _SheetContent((), heading + table, is_faq=False)


def _combine_sheets(sheets: Sequence[_SheetContent]) -> ParsedDocument:
    return ParsedDocument(
        text="\n\n".join(sheet.text for sheet in sheets if sheet.text),
        faq_entries=tuple(entry for sheet in sheets for entry in sheet.entries),
        is_faq_sheet=any(sheet.is_faq for sheet in sheets),
    )


@dataclass(frozen=True, slots=True)
class XlsxParser:
    """Excel workbooks: FAQ sheets (question and answer columns) become entries; others, tables."""

    format_name: str = "Excel (.xlsx)"

    def parse(self, data: bytes, *, limits: IngestLimits) -> ParsedDocument:
        """Read every worksheet's cell values (formulas as their last computed values)."""
        with _library_errors(self.format_name):
            _ensure_unpacked_size(data, limits)
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                worksheets = workbook.worksheets
                sheets = [
                    _read_sheet(
                        _numbered_rows(sheet.iter_rows(values_only=True)),
                        sheet.title,
                        sheet.title if len(worksheets) > 1 else "",
                    )
                    for sheet in worksheets
                ]
            finally:
                workbook.close()
        return _combine_sheets(sheets)


@dataclass(frozen=True, slots=True)
class CsvParser:
    """CSV files (comma, semicolon or tab separated): an FAQ sheet, or else a table."""

    format_name: str = "CSV"

    def parse(self, data: bytes, *, limits: IngestLimits) -> ParsedDocument:
        """Decode, detect the delimiter, read the rows."""
        text = decode_text(data)
        with _library_errors(self.format_name):
            try:
                dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
                    text[:CSV_SNIFF_CHARS], delimiters=CSV_DELIMITERS
                )
            except csv.Error:
                dialect = csv.excel
            rows = _numbered_rows(csv.reader(io.StringIO(text), dialect))
        return _combine_sheets([_read_sheet(rows, "", "")])


# --- the registry ------------------------------------------------------------------------------


def _unsupported(name: str) -> IngestError:
    hint = _LEGACY_FORMAT_HINTS.get(name, "")
    shown = f"“{name}”" if name else "này"
    message = f"Chưa hỗ trợ định dạng tệp {shown}. Hệ thống nhận các định dạng: {ACCEPTED_FORMATS}."
    return IngestError(
        IngestErrorCode.UNSUPPORTED_FORMAT, f"{hint} {message}" if hint else message, detail=name
    )


def _sniff_extension(data: bytes) -> str:
    """The extension a file's content suggests, for files that arrive without a usable name."""
    if data.startswith(PDF_MAGIC):
        return ".pdf"
    if data.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile:
            return ""
        if "word/document.xml" in names:
            return ".docx"
        if "xl/workbook.xml" in names:
            return ".xlsx"
        return ""
    head = data[:HTML_SNIFF_BYTES].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return ".html"
    return ""


class ParserRegistry:
    """Picks a parser by file extension, then media type, then the file's content."""

    def __init__(self) -> None:
        self._by_extension: dict[str, DocumentParser] = {}
        self._by_media_type: dict[str, DocumentParser] = {}

    def register(
        self, parser: DocumentParser, *, extensions: Iterable[str], media_types: Iterable[str] = ()
    ) -> None:
        """Use `parser` for these extensions (".pdf") and media types ("application/pdf")."""
        for extension in extensions:
            self._by_extension[extension.lower()] = parser
        for media_type in media_types:
            self._by_media_type[media_type.lower()] = parser

    @property
    def extensions(self) -> tuple[str, ...]:
        """Every extension a parser is registered for."""
        return tuple(self._by_extension)

    def parser_for(self, filename: str, media_type: str, data: bytes = b"") -> DocumentParser:
        """The parser for a file, or `IngestError("unsupported_format")` naming what is accepted."""
        extension = PurePath(filename).suffix.lower() if filename else ""
        if parser := self._by_extension.get(extension):
            return parser
        bare_media_type = media_type.split(";")[0].strip().lower()
        if parser := self._by_media_type.get(bare_media_type):
            return parser
        if data and (parser := self._by_extension.get(_sniff_extension(data))):
            return parser
        known_extension = extension if extension and " " not in extension else ""
        raise _unsupported(known_extension or bare_media_type)


def default_parsers(*, scanned_pages: ScannedPageReader | None = None) -> ParserRegistry:
    """Every format the product accepts; scanned PDF pages go to Tesseract unless told otherwise."""
    registry = ParserRegistry()
    registry.register(PlainTextParser(), extensions=[".txt"], media_types=["text/plain"])
    registry.register(
        PlainTextParser(format_name="Markdown (.md)"),
        extensions=[".md", ".markdown"],
        media_types=["text/markdown", "text/x-markdown"],
    )
    registry.register(
        HtmlParser(), extensions=[".html", ".htm"], media_types=["text/html", "application/xhtml+xml"]
    )
    registry.register(
        PdfParser(scanned_pages if scanned_pages is not None else TesseractPageReader()),
        extensions=[".pdf"],
        media_types=["application/pdf"],
    )
    registry.register(
        DocxParser(),
        extensions=[".docx"],
        media_types=["application/vnd.openxmlformats-officedocument.wordprocessingml.document"],
    )
    registry.register(
        XlsxParser(),
        extensions=[".xlsx"],
        media_types=["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"],
    )
    registry.register(CsvParser(), extensions=[".csv"], media_types=["text/csv"])
    return registry


__all__ = [
    "ACCEPTED_FORMATS",
    "CsvParser",
    "DocxParser",
    "HtmlParser",
    "ParserRegistry",
    "PdfParser",
    "PlainTextParser",
    "XlsxParser",
    "decode_text",
    "default_parsers",
]
