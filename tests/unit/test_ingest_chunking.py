"""Chunking along the document's own structure: legal divisions, headings, paragraphs, tables, FAQ."""

from __future__ import annotations

import json
import re
from itertools import islice

import pytest

from services.ingest.domain.chunking import chunk_faq, chunk_outline, split_text
from services.ingest.domain.model import FaqEntry
from services.ingest.domain.outline import OutlineMode, article_hint_from_title, parse_outline
from tests.support import REPO_ROOT, SHARED_DIR
from trolyao.documents import Chunk, ChunkKind
from trolyao.vietnamese import normalize_text

MAX_CHARS = 1000
ALQAC_CORPUS = SHARED_DIR / "eval" / "alqac-2022" / "corpus.jsonl"
DEMO = REPO_ROOT / "config" / "demo" / "mic-giao-ban-2024-06.txt"  # shipped with the repo
SENTENCE = "Cơ quan, tổ chức, cá nhân có trách nhiệm bảo vệ dữ liệu cá nhân theo quy định của pháp luật. "


def _chunks(text: str, *, article_hint: str = "", max_chars: int = MAX_CHARS) -> list[Chunk]:
    return chunk_outline(parse_outline(normalize_text(text), article_hint=article_hint), max_chars=max_chars)


def _by_path(chunks: list[Chunk]) -> dict[str, Chunk]:
    return {chunk.path: chunk for chunk in chunks}


def _assert_well_formed(chunks: list[Chunk], text: str, max_chars: int = MAX_CHARS) -> None:
    normalised = normalize_text(text)
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert 0 < len(chunk.text) <= max_chars
        assert chunk.text == chunk.text.strip()
        assert chunk.text in normalised  # the document's own text, nothing prefixed


def _decree() -> str:
    clauses = "\n".join(f"{number}. {SENTENCE * 2}" for number in range(1, 6))
    points = "\n".join(f"{letter}) {SENTENCE * 2}" for letter in "abcdđe")
    return f"""CHÍNH PHỦ
Số: 13/2023/NĐ-CP
NGHỊ ĐỊNH
BẢO VỆ DỮ LIỆU CÁ NHÂN
Căn cứ Luật Tổ chức Chính phủ ngày 19 tháng 6 năm 2015;
Chương I
NHỮNG QUY ĐỊNH CHUNG
Điều 1. Phạm vi điều chỉnh
Nghị định này quy định về bảo vệ dữ liệu cá nhân.
Điều 2. Đối tượng áp dụng
1. Cơ quan, tổ chức, cá nhân Việt Nam.
2. Cơ quan, tổ chức, cá nhân nước ngoài tại Việt Nam.
Chương II
QUYỀN VÀ NGHĨA VỤ
Mục 1. QUYỀN CỦA CHỦ THỂ DỮ LIỆU
Điều 5. Quyền của chủ thể dữ liệu
Chủ thể dữ liệu có các quyền sau đây:
{clauses}
Điều 6. Hành vi bị nghiêm cấm
1. Xử lý dữ liệu cá nhân trái với quy định của pháp luật.
2. Các hành vi sau đây bị nghiêm cấm:
{points}
3. Mua, bán dữ liệu cá nhân, trừ trường hợp luật có quy định khác; việc này được nêu tại
Điều 5 của Luật này và
Chương II của Luật Dân sự.
Nơi nhận:
- Ban Bí thư Trung ương Đảng;
- Thủ tướng, các Phó Thủ tướng Chính phủ."""


def test_legal_paths_follow_chuong_muc_dieu_khoan_diem() -> None:
    text = _decree()
    chunks = _chunks(text)
    _assert_well_formed(chunks, text)
    assert [chunk.path for chunk in chunks] == [
        "",
        "Chương I, Điều 1",
        "Chương I, Điều 2",
        "Chương II, Mục 1, Điều 5, Khoản 1–4",
        "Chương II, Mục 1, Điều 5, Khoản 5",
        "Chương II, Mục 1, Điều 6, Khoản 1",
        "Chương II, Mục 1, Điều 6, Khoản 2, Điểm a–đ",
        "Chương II, Mục 1, Điều 6, Khoản 2, Điểm e",
        "Chương II, Mục 1, Điều 6, Khoản 3",
        "Nơi nhận",
    ]
    point_chunk = _by_path(chunks)["Chương II, Mục 1, Điều 6, Khoản 2, Điểm a–đ"]
    assert point_chunk.text.startswith("2. Các hành vi sau đây bị nghiêm cấm:\na) ")


def test_short_article_stays_whole_with_its_khoan() -> None:
    chunk = _by_path(_chunks(_decree()))["Chương I, Điều 2"]
    assert chunk.text.startswith("Điều 2. Đối tượng áp dụng")
    assert "1. Cơ quan" in chunk.text and "2. Cơ quan" in chunk.text
    assert chunk.extra["headings"] == "Chương I NHỮNG QUY ĐỊNH CHUNG / Điều 2. Đối tượng áp dụng"


def test_article_heading_travels_with_its_first_khoan() -> None:
    chunk = _by_path(_chunks(_decree()))["Chương II, Mục 1, Điều 5, Khoản 1–4"]
    assert chunk.text.startswith(
        "Điều 5. Quyền của chủ thể dữ liệu\nChủ thể dữ liệu có các quyền sau đây:\n1. "
    )


def test_cross_references_at_line_start_are_not_headings() -> None:
    chunk = _by_path(_chunks(_decree()))["Chương II, Mục 1, Điều 6, Khoản 3"]
    assert chunk.text.endswith("Điều 5 của Luật này và\nChương II của Luật Dân sự.")


def test_preamble_and_closing_are_kept() -> None:
    chunks = _by_path(_chunks(_decree()))
    assert chunks[""].text.startswith("CHÍNH PHỦ\nSố: 13/2023/NĐ-CP")
    assert chunks["Nơi nhận"].text.startswith("Nơi nhận:\n- Ban Bí thư")


def test_parts_appendix_and_article_suffixes() -> None:
    text = """PHẦN THỨ NHẤT
QUY ĐỊNH CHUNG
Chương I
Điều 1. Phạm vi
Nội dung điều 1.
Điều 1a. Điều bổ sung
Nội dung điều 1a.
Phần thứ hai
Chương II
Điều 2. Khác
Nội dung điều 2.
PHỤ LỤC I
DANH MỤC MẪU BIỂU
Mẫu số 01."""
    outline = parse_outline(text)
    assert outline.mode is OutlineMode.LEGAL
    assert [chunk.path for chunk in chunk_outline(outline, max_chars=MAX_CHARS)] == [
        "Phần thứ nhất, Chương I, Điều 1",
        "Phần thứ nhất, Chương I, Điều 1a",
        "Phần thứ hai, Chương II, Điều 2",
        "Phụ lục I",
    ]


def test_corpus_article_without_its_heading_uses_the_title() -> None:
    title = "91/2015/QH13 - Điều 2. Công nhận, tôn trọng, bảo vệ và bảo đảm quyền dân sự"
    body = "Công nhận quyền dân sự\n\n" + "\n\n".join(f"{n}. {SENTENCE * 3}" for n in range(1, 5))
    hint = article_hint_from_title(title)
    assert hint == "Điều 2"
    chunks = _chunks(body, article_hint=hint)
    _assert_well_formed(chunks, body)
    assert [chunk.path for chunk in chunks] == ["Điều 2, Khoản 1–3", "Điều 2, Khoản 4"]
    assert [chunk.path for chunk in _chunks("Ngắn.\n\n1. Một.\n\n2. Hai.", article_hint=hint)] == ["Điều 2"]


def test_long_paragraph_is_cut_at_sentence_boundaries() -> None:
    text = "Điều 9. Trách nhiệm\n" + SENTENCE * 40
    chunks = _chunks(text)
    _assert_well_formed(chunks, text)
    assert len(chunks) > 1
    assert {chunk.path for chunk in chunks} == {"Điều 9"}
    assert chunks[0].text.startswith("Điều 9. Trách nhiệm\nCơ quan")
    assert all(chunk.text.endswith("pháp luật.") for chunk in chunks)


def test_split_text_falls_back_to_words_and_characters() -> None:
    text = "không dấu chấm " * 100 + "x" * 450
    spans = split_text(text, 200)
    assert all(len(text[start:end].strip()) <= 200 for start, end in spans)
    assert "".join(text[start:end] for start, end in spans).replace(" ", "") == text.replace(" ", "")


def test_small_table_stays_whole_and_big_one_repeats_its_header() -> None:
    header = "| Thủ tục | Thời hạn |\n|---|---|"
    small = "\n".join([header, *(f"| Thủ tục {n} | {n} ngày |" for n in range(5))])
    big = "\n".join(
        [header, *(f"| Thủ tục cấp phép số {n} theo quy định hiện hành | {n} ngày |" for n in range(60))]
    )
    text = f"# Bảng thủ tục\n\nBảng nhỏ:\n\n{small}\n\n## Bảng lớn\n\n{big}"
    chunks = _chunks(text)
    small_chunks = [chunk for chunk in chunks if "| Thủ tục 0 |" in chunk.text]
    assert len(small_chunks) == 1 and "| Thủ tục 4 |" in small_chunks[0].text
    big_chunks = [chunk for chunk in chunks if chunk.path == "Bảng thủ tục > Bảng lớn"]
    assert len(big_chunks) > 1
    assert big_chunks[0].text.startswith(f"Bảng lớn\n\n{header}")  # its heading opens the first piece
    assert all(chunk.text.removeprefix("Bảng lớn\n\n").startswith(header) for chunk in big_chunks)
    assert all(len(chunk.text) <= MAX_CHARS for chunk in big_chunks)
    rows = [line for chunk in big_chunks for line in chunk.text.removeprefix("Bảng lớn\n\n").split("\n")[2:]]
    assert rows == big.split("\n")[2:]


def test_markdown_headings_give_paths_and_small_sections_stay_whole() -> None:
    text = (
        "# Sổ tay\n\nLời nói đầu.\n\n## Chương trình\n\n"
        + SENTENCE * 12
        + "\n\n## Liên hệ\n\nĐiện thoại 024 3943 7311."
    )
    chunks = _chunks(text)
    _assert_well_formed(chunks, text)
    assert [chunk.path for chunk in chunks] == [
        "Sổ tay",
        "Sổ tay > Chương trình",
        "Sổ tay > Chương trình",
        "Sổ tay > Liên hệ",
    ]
    assert chunks[0].text == "Sổ tay\n\nLời nói đầu."
    assert chunks[1].text.startswith("Chương trình\n\nCơ quan")  # the heading stays with its text
    assert chunks[3].text == "Liên hệ\n\nĐiện thoại 024 3943 7311."


def test_numbered_lists_outside_legal_texts_are_not_khoan() -> None:
    text = "Kết quả họp:\n1. Thống nhất kế hoạch.\n2. Giao Văn phòng tổng hợp."
    chunks = _chunks(text)
    assert [chunk.path for chunk in chunks] == ["Đoạn 1"]


def test_demo_news_article_is_cut_into_paragraph_groups() -> None:
    text = DEMO.read_text(encoding="utf-8")
    chunks = _chunks(text)
    _assert_well_formed(chunks, text)
    assert 3 <= len(chunks) <= 12
    assert all(re.fullmatch(r"Đoạn \d+(–\d+)?", chunk.path) for chunk in chunks)
    assert chunks[0].text.startswith("Hội nghị giao ban quản lý nhà nước tháng 6/2024")
    assert any("34 đơn vị thì phải có 34 trợ lý ảo" in chunk.text for chunk in chunks)
    assert sum(len(chunk.text) for chunk in chunks) >= len(normalize_text(text)) * 0.95


@pytest.mark.skipif(not ALQAC_CORPUS.exists(), reason="shared eval corpus not present")
def test_alqac_articles_give_sensible_chunks() -> None:
    with ALQAC_CORPUS.open(encoding="utf-8") as corpus:
        documents = [json.loads(line) for line in islice(corpus, 300)]
    single = 0
    for document in documents:
        hint = article_hint_from_title(document["title"])
        chunks = _chunks(document["text"], article_hint=hint)
        _assert_well_formed(chunks, document["text"])
        assert all(chunk.path == hint or chunk.path.startswith(hint + ", ") for chunk in chunks)
        single += len(chunks) == 1
    assert single / len(documents) > 0.6  # most articles are short enough to stay whole


def test_faq_entries_one_chunk_each_long_answers_in_parts() -> None:
    entries = [
        FaqEntry(
            ("Tắt sóng 2G khi nào?", "Bao giờ tắt 2G?"),
            "Từ ngày 15/9/2024.",
            "Dòng 2",
            {"category": "Viễn thông"},
        ),
        FaqEntry(("Hồ sơ gồm gì?",), SENTENCE * 60, "Dòng 3"),
    ]
    chunks = chunk_faq(entries, max_answer_chars=2000, first_ordinal=5)
    assert all(chunk.kind is ChunkKind.FAQ for chunk in chunks)
    assert chunks[0].question == "Tắt sóng 2G khi nào?\nBao giờ tắt 2G?"
    assert chunks[0].text == "Từ ngày 15/9/2024."
    assert chunks[0].ordinal == 5 and chunks[0].extra == {"category": "Viễn thông"}
    parts = chunks[1:]
    assert [chunk.extra["part"] for chunk in parts] == [f"{n}/{len(parts)}" for n in range(1, len(parts) + 1)]
    assert all(chunk.question == "Hồ sơ gồm gì?" and len(chunk.text) <= 2000 for chunk in parts)
