"""Every accepted format, with a real file of that kind made by the test, through `prepare_document`."""

from __future__ import annotations

import io
import shutil
import time
import zipfile
from pathlib import Path

import docx
import openpyxl
import pytesseract
import pytest
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

from services.ingest.adapters.ocr import TesseractPageReader
from services.ingest.adapters.parsers import ACCEPTED_FORMATS, ParserRegistry, default_parsers
from services.ingest.domain.model import (
    IngestError,
    IngestErrorCode,
    IngestLimits,
    PreparedDocument,
    SourceDocument,
)
from services.ingest.domain.preparation import prepare_document
from trolyao.documents import ChunkKind, DocumentMetadata
from trolyao.vietnamese import fold_diacritics

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
needs_font = pytest.mark.skipif(
    not FONT_PATH.exists(),
    reason="DejaVu font missing: install Debian fonts-dejavu-core (deploy/apt-packages.txt)",
)
OCR_SECONDS_BUDGET = 20.0

DECREE_LINES = (
    "CHÍNH PHỦ",
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc",
    "Số: 13/2023/NĐ-CP",
    "Hà Nội, ngày 17 tháng 4 năm 2023",
    "NGHỊ ĐỊNH",
    "BẢO VỆ DỮ LIỆU CÁ NHÂN",
    "Chương I",
    "NHỮNG QUY ĐỊNH CHUNG",
    "Điều 1. Phạm vi điều chỉnh",
    "Nghị định này quy định về bảo vệ dữ liệu cá nhân và trách nhiệm bảo vệ dữ liệu cá nhân.",
    "Điều 2. Giải thích từ ngữ",
    "1. Dữ liệu cá nhân là thông tin dưới dạng ký hiệu, chữ viết, chữ số, hình ảnh, âm thanh.",
    "2. Dữ liệu cá nhân nhạy cảm gồm:",
    "a) Quan điểm chính trị, quan điểm tôn giáo;",
    "b) Tình trạng sức khỏe và đời tư được ghi trong hồ sơ bệnh án.",
    "Điều 3. Hiệu lực thi hành",
    "Nghị định này có hiệu lực thi hành từ ngày 01 tháng 7 năm 2023.",
)


@pytest.fixture(scope="module")
def parsers() -> ParserRegistry:
    return default_parsers()


def _prepare(
    parsers: ParserRegistry,
    filename: str,
    data: bytes,
    *,
    media_type: str = "",
    limits: IngestLimits | None = None,
    metadata: DocumentMetadata | None = None,
) -> PreparedDocument:
    source = SourceDocument(
        document_id="doc-1",
        filename=filename,
        media_type=media_type,
        data=data,
        text=None,
        metadata=metadata or DocumentMetadata(),
    )
    return prepare_document(source, parsers=parsers, limits=limits or IngestLimits())


def _paths(prepared: PreparedDocument) -> list[str]:
    return [chunk.path for chunk in prepared.chunks]


def _assert_decree(prepared: PreparedDocument) -> None:
    assert prepared.metadata.number == "13/2023/NĐ-CP"
    assert prepared.metadata.doc_type == "Nghị định"
    assert prepared.metadata.issuer == "Chính phủ"
    assert prepared.metadata.issued_date == "2023-04-17"
    assert prepared.metadata.effective_date == "2023-07-01"
    paths = _paths(prepared)
    assert "Chương I, Điều 1" in paths
    assert "Chương I, Điều 2" in paths
    article_2 = prepared.chunks[paths.index("Chương I, Điều 2")]
    assert "a) Quan điểm chính trị" in article_2.text


# --- text formats ------------------------------------------------------------------------------


def test_txt_utf8_with_bom(parsers: ParserRegistry) -> None:
    data = "\ufeff" + "\n".join(DECREE_LINES)
    prepared = _prepare(parsers, "nghi-dinh-13.txt", data.encode("utf-8"))
    _assert_decree(prepared)
    assert prepared.metadata.title == "Nghị định 13/2023/NĐ-CP về bảo vệ dữ liệu cá nhân"


def test_txt_windows_1258_is_decoded(parsers: ParserRegistry) -> None:
    text = "Thông báo về việc hoà giải tranh chấp tại Uỷ ban nhân dân tỉnh Khánh Hoà. " * 4
    prepared = _prepare(parsers, "thong-bao.txt", _cp1258(text))
    assert "hòa giải tranh chấp tại Ủy ban nhân dân tỉnh Khánh Hòa" in prepared.text


def _cp1258(text: str) -> bytes:
    """Windows-1258 keeps tone marks as combining characters after a (possibly shaped) base letter."""
    import unicodedata

    tones = "\u0300\u0301\u0303\u0309\u0323"
    encoded = b""
    for char in unicodedata.normalize("NFC", text):
        try:
            encoded += char.encode("cp1258")
        except UnicodeEncodeError:
            decomposed = unicodedata.normalize("NFD", char)
            base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in tones))
            encoded += (base + "".join(c for c in decomposed if c in tones)).encode("cp1258")
    return encoded


def test_markdown_headings_become_paths(parsers: ParserRegistry) -> None:
    body = "Nội dung hướng dẫn chi tiết cho cán bộ một cửa. " * 12
    markdown = (
        "# Hướng dẫn dịch vụ công\n\nGiới thiệu chung về dịch vụ.\n\n"
        f"## Nộp hồ sơ\n\n{body}\n\n### Hồ sơ trực tuyến\n\n{body}\n\n"
        f"## Nhận kết quả\n\nKết quả trả qua bưu chính công ích.\n\n```\n# không phải tiêu đề\n```\n"
    )
    prepared = _prepare(parsers, "huong-dan.md", markdown.encode("utf-8"))
    paths = _paths(prepared)
    assert "Hướng dẫn dịch vụ công > Nộp hồ sơ" in paths
    assert "Hướng dẫn dịch vụ công > Nộp hồ sơ > Hồ sơ trực tuyến" in paths
    assert "Hướng dẫn dịch vụ công > Nhận kết quả" in paths
    assert prepared.metadata.title == "Hướng dẫn dịch vụ công"
    assert all(not chunk.text.startswith("#") for chunk in prepared.chunks)


def test_html_main_content_without_menus(parsers: ParserRegistry) -> None:
    paragraph = (
        "Bộ Thông tin và Truyền thông hướng dẫn các doanh nghiệp viễn thông thực hiện lộ trình "
        "dừng công nghệ 2G, hỗ trợ thuê bao chuyển đổi sang máy điện thoại 4G. "
    )
    html = f"""<!DOCTYPE html><html><head><meta charset="utf-8">
    <title>Lộ trình tắt sóng 2G - Cục Viễn thông</title>
    <link rel="canonical" href="https://vnta.gov.vn/tat-song-2g"/></head><body>
    <nav><ul><li><a href="/">Trang chủ</a></li>
    <li><a href="/gioi-thieu">Giới thiệu cơ quan</a></li></ul></nav>
    <div class="menu-top">Đăng nhập | Sơ đồ cổng</div>
    <main><article><h1>Lộ trình tắt sóng 2G</h1><p>{paragraph * 4}</p>
    <h2>Hỗ trợ thuê bao</h2><p>{paragraph * 4}</p>
    <table><tr><th>Mốc thời gian</th><th>Nội dung</th></tr>
    <tr><td>15/9/2024</td><td>Tắt sóng 2G</td></tr></table>
    </article></main>
    <footer>Bản quyền thuộc Cục Viễn thông. Địa chỉ: 68 Dương Đình Nghệ, Hà Nội.</footer></body></html>"""
    prepared = _prepare(parsers, "tat-song-2g.html", html.encode("utf-8"))
    assert "Giới thiệu cơ quan" not in prepared.text
    assert "Bản quyền thuộc Cục Viễn thông" not in prepared.text
    assert "Lộ trình tắt sóng 2G > Hỗ trợ thuê bao" in _paths(prepared)
    assert any("| 15/9/2024 | Tắt sóng 2G |" in chunk.text for chunk in prepared.chunks)
    assert prepared.metadata.title.startswith("Lộ trình tắt sóng 2G")
    assert prepared.metadata.source_url == "https://vnta.gov.vn/tat-song-2g"


def test_inline_html_text_is_parsed_as_html(parsers: ParserRegistry) -> None:
    source = SourceDocument(
        document_id="inline",
        filename="",
        media_type="text/html; charset=utf-8",
        data=None,
        text="<html><body><nav>Trang chủ</nav><p>Giờ làm việc của bộ phận một cửa từ 7 giờ 30.</p></body>",
    )
    prepared = prepare_document(source, parsers=parsers, limits=IngestLimits())
    assert "Giờ làm việc của bộ phận một cửa" in prepared.text
    assert "<p>" not in prepared.text


# --- PDF ---------------------------------------------------------------------------------------


@needs_font
def test_pdf_with_vietnamese_text_layer(parsers: ParserRegistry) -> None:
    pdf = FPDF()
    pdf.set_title("Nghị định bảo vệ dữ liệu cá nhân")
    pdf.add_font("DejaVu", fname=str(FONT_PATH))
    pdf.set_font("DejaVu", size=11)
    for page_lines in (DECREE_LINES[:11], DECREE_LINES[11:]):
        pdf.add_page()
        for line in page_lines:
            pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    prepared = _prepare(parsers, "nd-13-2023.pdf", bytes(pdf.output()))
    _assert_decree(prepared)
    pages = {chunk.path: chunk.extra.get("page") for chunk in prepared.chunks}
    assert pages["Chương I, Điều 1"] == "1"
    assert pages["Chương I, Điều 3"] == "2"


def _scanned_pdf(lines: list[str]) -> bytes:
    """A page image of Vietnamese text, wrapped in a PDF with no text layer (like a scanner's)."""
    font = ImageFont.truetype(str(FONT_PATH), 40)
    image = Image.new("L", (1700, 90 + 70 * len(lines)), color=255)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((60, 45 + 70 * row), line, font=font, fill=0)
    buffer = io.BytesIO()
    image.save(buffer, format="PDF", resolution=300.0)
    return buffer.getvalue()


@needs_font
@pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="Tesseract missing: install tesseract-ocr and tesseract-ocr-vie"
)
@pytest.mark.parametrize("renderer", ["pdftoppm", "embedded-image-fallback"])
def test_scanned_pdf_is_read_by_vietnamese_ocr(renderer: str) -> None:
    if "vie" not in pytesseract.get_languages(config=""):
        pytest.skip("Tesseract Vietnamese data missing: install tesseract-ocr-vie")
    if renderer == "pdftoppm" and shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm missing: install poppler-utils")
    pdftoppm = "pdftoppm" if renderer == "pdftoppm" else "no-such-renderer"
    parsers = default_parsers(scanned_pages=TesseractPageReader(pdftoppm_cmd=pdftoppm))
    data = _scanned_pdf(
        [
            "Điều 7. Thủ tục cấp giấy phép bưu chính",
            "Hồ sơ nộp tại Bộ Thông tin và Truyền thông.",
        ]
    )
    assert b"BT" not in data  # no text object: only OCR can read it
    started = time.monotonic()
    prepared = _prepare(parsers, "ban-quet.pdf", data)
    assert time.monotonic() - started < OCR_SECONDS_BUDGET
    assert "thủ tục cấp giấy phép bưu chính" in prepared.text.lower()
    assert "Điều 7" in _paths(prepared)
    assert "bo thong tin va truyen thong" in fold_diacritics(prepared.text)


def test_scanned_pdf_without_tesseract_says_so(tmp_path: Path) -> None:
    reader = TesseractPageReader(tesseract_cmd=str(tmp_path / "no-tesseract-here"))
    registry = default_parsers(scanned_pages=reader)
    image = Image.new("L", (200, 100), color=255)
    buffer = io.BytesIO()
    image.save(buffer, format="PDF")
    with pytest.raises(IngestError) as caught:
        _prepare(registry, "scan.pdf", buffer.getvalue())
    assert caught.value.code == IngestErrorCode.OCR_UNAVAILABLE
    assert "bản quét" in caught.value.message


def test_pdf_over_page_limit_is_refused_before_reading(parsers: ParserRegistry) -> None:
    pdf = FPDF()
    for _ in range(4):
        pdf.add_page()
    with pytest.raises(IngestError) as caught:
        _prepare(parsers, "dai.pdf", bytes(pdf.output()), limits=IngestLimits(max_pages=3))
    assert caught.value.code == "too_many_pages"
    assert caught.value.message.startswith("Văn bản có 4 trang, vượt quá giới hạn 3 trang")


def test_corrupt_pdf_is_a_parse_error(parsers: ParserRegistry) -> None:
    with pytest.raises(IngestError) as caught:
        _prepare(parsers, "hong.pdf", b"%PDF-1.7\nthis is not really a pdf")
    assert caught.value.code == "parse_error"
    assert not caught.value.retryable
    assert "PDF" in caught.value.message


# --- Word --------------------------------------------------------------------------------------


def test_docx_keeps_headings_and_tables(parsers: ParserRegistry) -> None:
    document = docx.Document()
    document.core_properties.title = "Quy chế làm việc"
    document.add_heading("Quy chế làm việc của Cục", level=1)
    document.add_paragraph("Quy chế này áp dụng cho toàn bộ công chức, viên chức của Cục.")
    document.add_heading("Lịch trực", level=2)
    document.add_paragraph("Lịch trực được phân công hằng tuần như bảng sau.")
    table = document.add_table(rows=3, cols=2)
    for row, (day, person) in enumerate(
        [("Ngày", "Người trực"), ("Thứ Hai", "Nguyễn Văn An"), ("Thứ Ba", "Trần Thị Bình")]
    ):
        table.cell(row, 0).text = day
        table.cell(row, 1).text = person
    buffer = io.BytesIO()
    document.save(buffer)
    prepared = _prepare(parsers, "quy-che.docx", buffer.getvalue())
    assert prepared.metadata.title == "Quy chế làm việc"
    schedule = [chunk for chunk in prepared.chunks if "Thứ Hai" in chunk.text]
    assert len(schedule) == 1
    assert schedule[0].path == "Quy chế làm việc của Cục"  # the whole short document, under its heading
    assert "| Thứ Hai | Nguyễn Văn An |" in schedule[0].text
    assert "| Thứ Ba | Trần Thị Bình |" in schedule[0].text


def test_docx_legal_text(parsers: ParserRegistry) -> None:
    document = docx.Document()
    for line in DECREE_LINES:
        document.add_paragraph(line)
    buffer = io.BytesIO()
    document.save(buffer)
    _assert_decree(_prepare(parsers, "nd13.docx", buffer.getvalue()))


def test_zip_bomb_docx_is_refused(parsers: ParserRegistry) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b" " * 2_000_000)
    with pytest.raises(IngestError) as caught:
        _prepare(parsers, "bom.docx", buffer.getvalue(), limits=IngestLimits(max_unpacked_bytes=1_000_000))
    assert caught.value.code == "too_large"


# --- FAQ sheets --------------------------------------------------------------------------------


def test_xlsx_faq_sheet(parsers: ParserRegistry) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Hỏi đáp"
    sheet.append(["Danh sách câu hỏi thường gặp"])
    sheet.append(["STT", "Lĩnh vực", "Câu hỏi", "Câu hỏi khác", "Câu trả lời"])
    sheet.append(
        [
            1,
            "Bưu chính",
            "Thủ tục cấp giấy phép bưu chính gồm những gì?",
            "Xin giấy phép bưu chính thế nào?",
            "Hồ sơ gồm đơn đề nghị và bản sao giấy chứng nhận đăng ký doanh nghiệp.",
        ]
    )
    sheet.append([2, "Viễn thông", "Khi nào tắt sóng 2G?", None, "Từ ngày 15/9/2024."])
    sheet.append([3, "Viễn thông", "Câu hỏi chưa có trả lời", None, None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    prepared = _prepare(parsers, "faq.xlsx", buffer.getvalue())
    assert [chunk.kind for chunk in prepared.chunks] == [ChunkKind.FAQ, ChunkKind.FAQ]
    first, second = prepared.chunks
    assert first.question == "Thủ tục cấp giấy phép bưu chính gồm những gì?\nXin giấy phép bưu chính thế nào?"
    assert first.text == "Hồ sơ gồm đơn đề nghị và bản sao giấy chứng nhận đăng ký doanh nghiệp."
    assert first.path == "Dòng 3"
    assert first.extra == {"category": "Bưu chính", "faq_id": "1"}
    assert second.question == "Khi nào tắt sóng 2G?"
    assert second.ordinal == 1


def test_xlsx_without_faq_columns_is_a_table(parsers: ParserRegistry) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Danh bạ"
    sheet.append(["Đơn vị", "Điện thoại"])
    sheet.append(["Văn phòng Bộ", "024 3943 7311"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    prepared = _prepare(parsers, "danh-ba.xlsx", buffer.getvalue())
    assert [chunk.kind for chunk in prepared.chunks] == [ChunkKind.PASSAGE]
    assert "| Văn phòng Bộ | 024 3943 7311 |" in prepared.chunks[0].text
    assert prepared.chunks[0].path == "Danh bạ"


def test_csv_faq_sheet_with_english_headers_and_semicolons(parsers: ParserRegistry) -> None:
    data = (
        "question;answer;topic\n"
        "Làm thế nào để đăng ký tên miền .vn?;Đăng ký qua nhà đăng ký được VNNIC công nhận.;Tên miền\n"
        '"Phí duy trì tên miền; mỗi năm là bao nhiêu?";"Theo biểu phí hiện hành.";Tên miền\n'
    )
    prepared = _prepare(parsers, "faq.csv", data.encode("utf-8"))
    assert [chunk.question for chunk in prepared.chunks] == [
        "Làm thế nào để đăng ký tên miền .vn?",
        "Phí duy trì tên miền; mỗi năm là bao nhiêu?",
    ]
    assert prepared.chunks[1].text == "Theo biểu phí hiện hành."
    assert prepared.chunks[0].extra == {"category": "Tên miền"}


def test_csv_faq_sheet_without_any_complete_row(parsers: ParserRegistry) -> None:
    with pytest.raises(IngestError) as caught:
        _prepare(parsers, "faq.csv", "Câu hỏi,Trả lời\nHỏi gì đó?,\n".encode())
    assert caught.value.code == "empty_document"
    assert "câu hỏi và câu trả lời" in caught.value.message


# --- choosing a parser -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "media_type", "hint"),
    [("bao-cao.doc", "application/msword", ".docx"), ("anh.png", "image/png", ""), ("", "", "")],
)
def test_unsupported_format_names_the_accepted_ones(
    parsers: ParserRegistry, filename: str, media_type: str, hint: str
) -> None:
    with pytest.raises(IngestError) as caught:
        _prepare(parsers, filename, b"\x00\x01binary", media_type=media_type)
    error = caught.value
    assert error.code == IngestErrorCode.UNSUPPORTED_FORMAT
    assert not error.retryable
    assert ACCEPTED_FORMATS in error.message
    assert error.message.count("Chưa hỗ trợ định dạng tệp") == 1
    assert hint in error.message


def test_media_type_and_content_pick_the_parser_when_the_name_does_not(parsers: ParserRegistry) -> None:
    assert parsers.parser_for("tai-lieu", "application/pdf").format_name == "PDF"
    assert parsers.parser_for("", "text/markdown; charset=utf-8").format_name == "Markdown (.md)"
    document = docx.Document()
    document.add_paragraph("Nội dung")
    buffer = io.BytesIO()
    document.save(buffer)
    assert (
        parsers.parser_for("upload", "application/octet-stream", buffer.getvalue()).format_name
        == "Word (.docx)"
    )
    assert parsers.parser_for("upload", "", b"%PDF-1.4 ...").format_name == "PDF"
