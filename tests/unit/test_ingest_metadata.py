"""Metadata of Vietnamese administrative documents: số hiệu, issuer, type, dates, title."""

from __future__ import annotations

import pytest

from services.ingest.domain.metadata import extract_metadata
from tests.support import REPO_ROOT
from trolyao.documents import DocumentMetadata

DEMO = REPO_ROOT / "config" / "demo" / "mic-giao-ban-2024-06.txt"  # shipped with the repo

DECREE = """CHÍNH PHỦ
CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
---------------
Số: 13/2023/NĐ-CP
Hà Nội, ngày 17 tháng 4 năm 2023
NGHỊ ĐỊNH
BẢO VỆ DỮ LIỆU CÁ NHÂN
Căn cứ Luật Tổ chức Chính phủ ngày 19 tháng 6 năm 2015;
Chương I
NHỮNG QUY ĐỊNH CHUNG
Điều 1. Phạm vi điều chỉnh
Nghị định này quy định về bảo vệ dữ liệu cá nhân.
Điều 44. Hiệu lực thi hành
Nghị định này có hiệu lực thi hành từ ngày 01 tháng 7 năm 2023."""

CIRCULAR = """BỘ THÔNG TIN VÀ TRUYỀN THÔNG
-------
Số: 02/2024/TT-BTTTT
Hà Nội, ngày 10 tháng 3 năm 2024
THÔNG TƯ
QUY ĐỊNH CHI TIẾT MỘT SỐ ĐIỀU CỦA LUẬT VIỄN THÔNG
Căn cứ Luật Viễn thông ngày 24 tháng 11 năm 2023;
Bộ trưởng Bộ Thông tin và Truyền thông ban hành Thông tư quy định chi tiết.
Điều 1. Phạm vi điều chỉnh
Thông tư này có hiệu lực kể từ ngày 1/5/2024."""

LAW = """QUỐC HỘI
Luật số: 24/2018/QH14
LUẬT
AN NINH MẠNG
Căn cứ Hiến pháp nước Cộng hòa xã hội chủ nghĩa Việt Nam;
Điều 1. Phạm vi điều chỉnh
Luật này có hiệu lực thi hành từ ngày 01 tháng 01 năm 2019."""

DECISION = """THỦ TƯỚNG CHÍNH PHỦ
Số: 749/QĐ-TTg
Hà Nội, ngày 03 tháng 6 năm 2020
QUYẾT ĐỊNH
Phê duyệt "Chương trình Chuyển đổi số quốc gia đến năm 2025, định hướng đến năm 2030"
THỦ TƯỚNG CHÍNH PHỦ
Căn cứ Luật Tổ chức Chính phủ ngày 19 tháng 6 năm 2015;
Điều 1. Phê duyệt Chương trình.
Điều 2. Quyết định này có hiệu lực thi hành kể từ ngày ký ban hành."""

OFFICIAL_LETTER = """BỘ THÔNG TIN VÀ TRUYỀN THÔNG
Số: 1234/BTTTT-CBC
V/v: hướng dẫn xây dựng trợ lý ảo
Hà Nội, ngày 5 tháng 7 năm 2024
Kính gửi: Các đơn vị thuộc Bộ
Bộ Thông tin và Truyền thông hướng dẫn các đơn vị xây dựng trợ lý ảo."""

TABLE_HEADER = (
    "| CHÍNH PHỦ -------- | CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM Độc lập - Tự do - Hạnh phúc ------- |\n"
    "|---|---|\n"
    "| Số: 13/2023/NĐ-CP | Hà Nội, ngày 17 tháng 4 năm 2023 |\n\n"
    "NGHỊ ĐỊNH\n\n"
    "Về bảo vệ dữ liệu cá nhân"
)


def _found(text: str, stated: DocumentMetadata | None = None) -> DocumentMetadata:
    return extract_metadata(text, stated=stated or DocumentMetadata())


def test_decree_header() -> None:
    assert _found(DECREE) == DocumentMetadata(
        title="Nghị định 13/2023/NĐ-CP về bảo vệ dữ liệu cá nhân",
        number="13/2023/NĐ-CP",
        issuer="Chính phủ",
        issued_date="2023-04-17",
        effective_date="2023-07-01",
        doc_type="Nghị định",
    )


def test_circular_of_a_ministry() -> None:
    found = _found(CIRCULAR)
    assert found.number == "02/2024/TT-BTTTT"
    assert found.issuer == "Bộ Thông tin và Truyền thông"
    assert found.doc_type == "Thông tư"
    assert found.issued_date == "2024-03-10"
    assert found.effective_date == "2024-05-01"
    assert found.title == "Thông tư 02/2024/TT-BTTTT quy định chi tiết một số điều của luật viễn thông"


def test_law_keeps_its_name_capitalised() -> None:
    found = _found(LAW)
    assert found.number == "24/2018/QH14"
    assert found.issuer == "Quốc hội"
    assert found.doc_type == "Luật"
    assert found.title == "Luật An ninh mạng"
    assert found.effective_date == "2019-01-01"
    assert found.issued_date == ""


def test_decision_effective_from_signature() -> None:
    found = _found(DECISION)
    assert found.number == "749/QĐ-TTg"
    assert found.issuer == "Thủ tướng Chính phủ"
    assert found.doc_type == "Quyết định"
    assert found.issued_date == "2020-06-03"
    assert found.effective_date == "2020-06-03"
    assert found.title.startswith('Quyết định 749/QĐ-TTg phê duyệt "Chương trình Chuyển đổi số quốc gia')


def test_official_letter() -> None:
    found = _found(OFFICIAL_LETTER)
    assert found.doc_type == "Công văn"
    assert found.number == "1234/BTTTT-CBC"
    assert found.issuer == "Bộ Thông tin và Truyền thông"
    assert found.issued_date == "2024-07-05"
    assert found.title == "Công văn 1234/BTTTT-CBC về việc hướng dẫn xây dựng trợ lý ảo"


def test_header_laid_out_as_a_table() -> None:
    found = _found(TABLE_HEADER)
    assert (found.issuer, found.number, found.issued_date) == ("Chính phủ", "13/2023/NĐ-CP", "2023-04-17")
    assert found.title == "Nghị định 13/2023/NĐ-CP về bảo vệ dữ liệu cá nhân"


def test_caller_fields_win_and_its_title_gives_the_number() -> None:
    stated = DocumentMetadata(
        title="91/2015/QH13 - Điều 1. Phạm vi điều chỉnh", source_url="https://example.vn/a"
    )
    found = _found("Phạm vi điều chỉnh\n\nBộ luật này quy định địa vị pháp lý.", stated)
    assert found.title == stated.title
    assert found.source_url == stated.source_url
    assert found.number == "91/2015/QH13"
    assert found.issuer == "Quốc hội"

    stated = DocumentMetadata(number="99/2099/NĐ-CP", issuer="Văn phòng Bộ", doc_type="Tài liệu")
    found = _found(DECREE, stated)
    assert (found.number, found.issuer, found.doc_type) == ("99/2099/NĐ-CP", "Văn phòng Bộ", "Tài liệu")
    assert found.issued_date == "2023-04-17"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("TP. Hồ Chí Minh, ngày 5/7/2024", "2024-07-05"),
        ("Đà Nẵng, ngày  09 tháng 12 năm 2022", "2022-12-09"),
        ("Hà Nội, ngày 31 tháng 2 năm 2023", ""),
        ("Căn cứ Luật ngày 19 tháng 6 năm 2015", ""),
    ],
)
def test_issue_dates(line: str, expected: str) -> None:
    assert _found(f"BỘ Y TẾ\n{line}\nNội dung.").issued_date == expected


def test_news_article_has_no_invented_metadata() -> None:
    found = _found(DEMO.read_text(encoding="utf-8"))
    assert found.title == "Hội nghị giao ban quản lý nhà nước tháng 6/2024 của Bộ TT&TT"
    assert (found.number, found.issuer, found.doc_type, found.issued_date) == ("", "", "", "")


def test_title_falls_back_to_the_file_name() -> None:
    long_line = "Nội dung rất dài " * 30
    assert extract_metadata(long_line, stated=DocumentMetadata(), filename="bao-cao-quy-2.txt").title == (
        "bao-cao-quy-2"
    )
    # A body that starts with its first article has no title line: the file name names it.
    article_first = "Điều 1. Doanh thu\nDoanh thu tháng 6 đạt 120 tỷ đồng.\n"
    found = extract_metadata(article_first, stated=DocumentMetadata(), filename="Báo cáo tháng 6.txt")
    assert found.title == "Báo cáo tháng 6"
