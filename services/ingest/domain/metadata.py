"""What a Vietnamese administrative document says about itself (no I/O).

Reads the header of a legal or administrative text — issuing body ("CHÍNH PHỦ"), number
("Số: 13/2023/NĐ-CP"), place and date ("Hà Nội, ngày 17 tháng 4 năm 2023"), document type
("NGHỊ ĐỊNH") and subject — and the article that sets the effective date ("Nghị định này có hiệu
lực thi hành từ ngày ..."). What the caller stated always wins over what is found here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import PurePath

from trolyao.documents import DocumentMetadata
from trolyao.vietnamese import fold_diacritics

HEADER_MAX_LINES = 40
HEADER_MAX_CHARS = 4000
TITLE_MAX_CHARS = 200
# The opening of a part of the body: Phần / Chương / Mục / Điều with its number.
_STRUCTURE_LINE = re.compile(r"^(phần|chương|mục|điều)\s+(\d+|[ivxlc]+)\b", re.IGNORECASE)
SUBJECT_MAX_LINES = 3

# Document types, as written in a header line (upper case) and as we name them.
DOCUMENT_TYPES: tuple[str, ...] = (
    "Hiến pháp",
    "Bộ luật",
    "Luật",
    "Pháp lệnh",
    "Lệnh",
    "Nghị quyết liên tịch",
    "Nghị quyết",
    "Nghị định",
    "Quyết định",
    "Chỉ thị",
    "Thông tư liên tịch",
    "Thông tư",
    "Công văn",
    "Thông báo",
    "Kế hoạch",
    "Báo cáo",
    "Tờ trình",
    "Hướng dẫn",
    "Quy chế",
    "Quy định",
    "Quy trình",
    "Chương trình",
    "Đề án",
    "Công điện",
    "Giấy mời",
    "Biên bản",
)
# Type codes in document numbers: 13/2023/NĐ-CP, 02/2024/TT-BTTTT, 123/QĐ-TTg.
TYPE_CODES: dict[str, str] = {
    "NĐ": "Nghị định",
    "TT": "Thông tư",
    "TTLT": "Thông tư liên tịch",
    "QĐ": "Quyết định",
    "NQ": "Nghị quyết",
    "NQLT": "Nghị quyết liên tịch",
    "CT": "Chỉ thị",
    "TB": "Thông báo",
    "KH": "Kế hoạch",
    "BC": "Báo cáo",
    "TTr": "Tờ trình",
    "HD": "Hướng dẫn",
    "CĐ": "Công điện",
    "PL": "Pháp lệnh",
    "L": "Lệnh",
}
# Issuing bodies by the code in document numbers, with their names as usually written.
ISSUER_CODES: dict[str, str] = {
    "QH": "Quốc hội",
    "UBTVQH": "Ủy ban Thường vụ Quốc hội",
    "CTN": "Chủ tịch nước",
    "CP": "Chính phủ",
    "TTg": "Thủ tướng Chính phủ",
    "VPCP": "Văn phòng Chính phủ",
    "BTTTT": "Bộ Thông tin và Truyền thông",
    "BKHCN": "Bộ Khoa học và Công nghệ",
    "BTC": "Bộ Tài chính",
    "BCA": "Bộ Công an",
    "BQP": "Bộ Quốc phòng",
    "BNG": "Bộ Ngoại giao",
    "BNV": "Bộ Nội vụ",
    "BTP": "Bộ Tư pháp",
    "BKHĐT": "Bộ Kế hoạch và Đầu tư",
    "BCT": "Bộ Công Thương",
    "BYT": "Bộ Y tế",
    "BGDĐT": "Bộ Giáo dục và Đào tạo",
    "BLĐTBXH": "Bộ Lao động - Thương binh và Xã hội",
    "BXD": "Bộ Xây dựng",
    "BGTVT": "Bộ Giao thông vận tải",
    "BNNPTNT": "Bộ Nông nghiệp và Phát triển nông thôn",
    "BNNMT": "Bộ Nông nghiệp và Môi trường",
    "BTNMT": "Bộ Tài nguyên và Môi trường",
    "BVHTTDL": "Bộ Văn hóa, Thể thao và Du lịch",
    "UBDT": "Ủy ban Dân tộc",
    "TTCP": "Thanh tra Chính phủ",
    "NHNN": "Ngân hàng Nhà nước Việt Nam",
    "KTNN": "Kiểm toán Nhà nước",
    "TANDTC": "Tòa án nhân dân tối cao",
    "VKSNDTC": "Viện kiểm sát nhân dân tối cao",
    "HĐTP": "Hội đồng Thẩm phán Tòa án nhân dân tối cao",
}
# Words an issuing body's name starts with, in a header's upper-case line.
ISSUER_STARTS: tuple[str, ...] = (
    "QUỐC HỘI",
    "ỦY BAN",
    "UỶ BAN",
    "UBND",
    "CHỦ TỊCH NƯỚC",
    "CHÍNH PHỦ",
    "THỦ TƯỚNG",
    "VĂN PHÒNG",
    "BỘ ",
    "TỔNG CỤC",
    "CỤC",
    "VỤ",
    "SỞ",
    "THANH TRA",
    "NGÂN HÀNG",
    "KIỂM TOÁN",
    "TÒA ÁN",
    "TOÀ ÁN",
    "VIỆN",
    "HỘI ĐỒNG",
    "BAN ",
    "TRUNG TÂM",
    "HỌC VIỆN",
    "TRƯỜNG",
    "TỔNG CÔNG TY",
)
_NOT_ISSUER = ("CỘNG HÒA", "CỘNG HOÀ", "ĐỘC LẬP")
# Lines that end a subject: the signing authority ("BỘ TRƯỞNG BỘ ...") or the issuing body.
_AUTHORITY_STARTS = (
    "BỘ TRƯỞNG",
    "THỦ TƯỚNG",
    "CHỦ TỊCH",
    "GIÁM ĐỐC",
    "TỔNG GIÁM ĐỐC",
    "CỤC TRƯỞNG",
    "VỤ TRƯỞNG",
    "TỔNG CỤC TRƯỞNG",
    "CHÁNH",
    "QUỐC HỘI",
    "CHÍNH PHỦ",
    "ỦY BAN",
    "UỶ BAN",
)
# Types whose subject is a proper name ("Luật An ninh mạng"), so it keeps its first capital.
_NAMED_TYPES = frozenset({"Hiến pháp", "Bộ luật", "Luật", "Pháp lệnh"})
_SUBJECT_VERBS = ("về", "quy định", "hướng dẫn", "sửa đổi", "ban hành", "bãi bỏ", "phê duyệt", "thành lập")
# Proper names a lower-cased upper-case subject must get back.
_PROPER_NAMES: tuple[str, ...] = ("Việt Nam", "Hà Nội", "Thành phố Hồ Chí Minh", *ISSUER_CODES.values())

_NUMBER = r"\d{1,6}(?:/\d{4})?/[A-ZĐ][A-ZĐa-z0-9]*(?:-[A-ZĐ][A-ZĐa-z0-9]*)*"
_LABELLED_NUMBER = re.compile(rf"\b(?i:số)(?:\s+(?i:hiệu))?\s*[:.]?\s*({_NUMBER})")
_YEAR_NUMBER = re.compile(r"(?<![\w/])(\d{1,6}/\d{4}/[A-ZĐ][A-ZĐa-z0-9]*(?:-[A-ZĐ][A-ZĐa-z0-9]*)*)")
_LEADING_NUMBER = re.compile(rf"^\s*(?:[^\W\d_]+\s+){{0,3}}(?:số\s+)?({_NUMBER})")
_DATE_WORDS = r"ngày\s+(\d{1,2})\s+tháng\s+(\d{1,2})\s+năm\s+(\d{4})"
_DATE_DIGITS = r"ngày\s+(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4})"
_PLACE_DATE = re.compile(rf"[^\W\d_][^,\n|]{{0,40}},\s*(?:{_DATE_WORDS}|{_DATE_DIGITS})", re.IGNORECASE)
_EFFECTIVE = re.compile(
    r"\bnày\s+có\s+hiệu\s+lực(?:\s+thi\s+hành)?\s+(?:kể\s+)?từ\s+"
    rf"(?:{_DATE_WORDS}|{_DATE_DIGITS}|(ngày\s+ký))",
    re.IGNORECASE,
)
_NOT_SUBJECT = re.compile(
    r"^(?:căn\s+cứ|kính\s+gửi|theo\s+đề\s+nghị|xét\s+đề\s+nghị|số\b)|,\s*ngày\s+\d", re.IGNORECASE
)
_SUBJECT_LINE = re.compile(r"^(?:về|v/v)\b", re.IGNORECASE)
_CONCERNING = re.compile(r"^v/v\s*[:.]?\s*(.+)$", re.IGNORECASE)
_DECORATION = re.compile(r"[-_=*.…]{3,}")
_TABLE_CELL_SEPARATOR = "|"
_STRUCTURE_START = re.compile(r"^(?:#+\s*)?(?:điều\s+\d+|chương\s+[IVXLC\d]+\b|phần\s+thứ\b)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Header:
    """The header of a document: its lines before the first article or chapter, table cells split."""

    segments: tuple[str, ...]
    text: str


def _header(text: str) -> _Header:
    segments: list[str] = []
    for count, line in enumerate(text.split("\n")):
        bare = line.strip().lstrip("#").strip()
        if count >= HEADER_MAX_LINES or _STRUCTURE_START.match(bare):
            break
        for cell in bare.split(_TABLE_CELL_SEPARATOR):
            for segment in _DECORATION.split(cell):
                if segment.strip():
                    segments.append(segment.strip())
    joined = "\n".join(segments)[:HEADER_MAX_CHARS]
    return _Header(tuple(segments), joined)


def _iso_date(day: str, month: str, year: str) -> str:
    try:
        return date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return ""


def _date_from(match: re.Match[str]) -> str:
    groups = match.groups()
    for offset in (0, 3):
        if groups[offset]:
            return _iso_date(groups[offset], groups[offset + 1], groups[offset + 2])
    return ""


def _upper_words(segment: str) -> str:
    """The leading run of upper-case words: "CHÍNH PHỦ Số: 13" → "CHÍNH PHỦ"."""
    words: list[str] = []
    for word in segment.split():
        letters = [char for char in word if char.isalpha()]
        if letters and not all(char.isupper() for char in letters):
            break
        words.append(word)
    return " ".join(words).strip(" ,;:-")


def _same(left: str, right: str) -> bool:
    return fold_diacritics(left).split() == fold_diacritics(right).split()


def _known_issuer_name(upper: str) -> str:
    for name in ISSUER_CODES.values():
        if _same(name, upper):
            return name
    return upper


def _issuer_from_header(header: _Header) -> str:
    for segment in header.segments:
        upper = _upper_words(segment)
        if not upper or upper.startswith(_NOT_ISSUER) or _document_type_line(upper):
            continue
        if upper.startswith(ISSUER_STARTS):
            return _known_issuer_name(upper)
    return ""


def _number_codes(number: str) -> list[str]:
    """ "13/2023/NĐ-CP" → ["NĐ", "CP"]; "1234/BTTTT-VP" → ["BTTTT", "VP"]."""
    return number.rsplit("/", 1)[-1].split("-")


def _issuer_from_number(number: str) -> str:
    codes = _number_codes(number)
    candidates = codes[1:] if codes[0] in TYPE_CODES else codes
    for code in candidates:
        issuer = ISSUER_CODES.get(code) or ISSUER_CODES.get(code.rstrip("0123456789"))
        if issuer:
            return issuer
    return ""


def _type_from_number(number: str) -> str:
    return TYPE_CODES.get(_number_codes(number)[0], "")


def _document_type_line(upper: str) -> str:
    """The type a header line announces ("NGHỊ ĐỊNH", "LUẬT AN NINH MẠNG"), if it is one."""
    folded = fold_diacritics(upper).split()
    for name in DOCUMENT_TYPES:
        words = fold_diacritics(name).split()
        if folded[: len(words)] == words:
            return name
    return ""


def _number(header: _Header, titles: tuple[str, ...]) -> str:
    if match := _LABELLED_NUMBER.search(header.text):
        return match.group(1)
    for title in titles:
        if title and (match := _YEAR_NUMBER.search(title) or _LEADING_NUMBER.match(title)):
            return match.group(1)
    return ""


def _sentence_case(upper: str, doc_type: str) -> str:
    text = upper.lower()
    for name in _PROPER_NAMES:
        text = re.sub(re.escape(name.lower()), name, text)
    if doc_type in _NAMED_TYPES and text:
        text = text[0].upper() + text[1:]
    return text


def _type_and_subject(header: _Header) -> tuple[str, str]:
    """The document type and subject from lines such as "NGHỊ ĐỊNH" / "BẢO VỆ DỮ LIỆU CÁ NHÂN"."""
    segments = header.segments
    for index, segment in enumerate(segments):
        upper = _upper_words(segment)
        doc_type = _document_type_line(upper) if upper == segment.strip(" :") else ""
        if not doc_type:
            continue
        type_words = len(doc_type.split())
        subject_parts = [" ".join(upper.split()[type_words:])] if len(upper.split()) > type_words else []
        for following in segments[index + 1 : index + 1 + SUBJECT_MAX_LINES]:
            line = following.strip()
            upper_line = _upper_words(line) == line
            if (upper_line and line.startswith(_AUTHORITY_STARTS)) or _NOT_SUBJECT.match(line):
                break
            # The subject's first line may be in sentence case ("Phê duyệt Chương trình ..."); a
            # continuation is upper case like the rest of the header.
            if (
                upper_line
                or _SUBJECT_LINE.match(line)
                or (not subject_parts and len(line) <= TITLE_MAX_CHARS)
            ):
                subject_parts.append(line)
            else:
                break
        return doc_type, _concerning(" ".join(subject_parts).strip())
    for segment in segments:
        if _CONCERNING.match(segment):
            return "Công văn", _concerning(segment)
    return "", ""


def _concerning(subject: str) -> str:
    """ "V/v: hướng dẫn ..." → "về việc hướng dẫn ..."."""
    match = _CONCERNING.match(subject)
    return f"về việc {match.group(1)}" if match else subject


def _compose_title(doc_type: str, number: str, subject: str) -> str:
    if not doc_type:
        return ""
    if not subject:
        return f"{doc_type} {number}" if number else ""
    subject = _sentence_case(subject, doc_type) if subject.isupper() else subject
    if doc_type in _NAMED_TYPES:
        return f"{doc_type} {subject}"[:TITLE_MAX_CHARS]
    lowered = subject[0].lower() + subject[1:]
    joiner = "" if lowered.startswith(_SUBJECT_VERBS) else "về "
    return " ".join(part for part in (doc_type, number, joiner + lowered) if part)[:TITLE_MAX_CHARS]


def _type_from_title(title: str) -> str:
    return _document_type_line(title.upper()) if title else ""


def _fallback_title(text: str, filename: str) -> str:
    """The first heading, else a short first line, else the file name. A first line that opens
    the body's structure ("Điều 1. Doanh thu") names a part, not the document."""
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith("#"):
            return stripped.lstrip("#").strip()[:TITLE_MAX_CHARS]
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith("|"):
            if len(stripped) <= TITLE_MAX_CHARS and not _STRUCTURE_LINE.match(stripped):
                return stripped
            break
    return PurePath(filename).stem if filename else ""


def extract_metadata(
    text: str,
    *,
    stated: DocumentMetadata,
    format_title: str = "",
    format_source_url: str = "",
    filename: str = "",
) -> DocumentMetadata:
    """Metadata found in a normalised document, under what the caller stated (`stated` wins).

    `format_title` and `format_source_url` come from the file's own metadata (HTML `<title>`,
    PDF or Word properties). The caller's title is also read for a document number
    ("91/2015/QH13 - Điều 1. Phạm vi điều chỉnh" → `91/2015/QH13`).
    """
    header = _header(text)
    number = _number(header, (stated.title, format_title))
    header_type, subject = _type_and_subject(header)
    doc_type = (
        header_type
        or (_type_from_number(number) if number else "")
        or _type_from_title(stated.title)
        or _type_from_title(format_title)
    )
    issuer = _issuer_from_header(header) or (_issuer_from_number(number) if number else "")
    issued = ""
    if match := _PLACE_DATE.search(header.text):
        issued = _date_from(match)
    effective = ""
    if match := _EFFECTIVE.search(text):
        effective = issued if match.group(7) else _date_from(match)
    title = _compose_title(header_type, number, subject) or format_title or _fallback_title(text, filename)
    found = DocumentMetadata(
        title=title,
        number=number,
        issuer=issuer,
        issued_date=issued,
        effective_date=effective,
        doc_type=doc_type,
        source_url=format_source_url,
    )
    return found.merged_with(stated)


__all__ = ["DOCUMENT_TYPES", "ISSUER_CODES", "TYPE_CODES", "extract_metadata"]
