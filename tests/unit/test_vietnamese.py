"""Vietnamese normalisation shared by ingest and retrieval."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from trolyao.vietnamese import (
    _NOT_CANONICAL_CHARACTER,
    fold_diacritics,
    has_diacritics,
    normalize_text,
    normalize_tone_placement,
)


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("hoà", "hòa"),
        ("Hoà Bình", "Hòa Bình"),
        ("HOÀ", "HÒA"),
        ("thuý", "thúy"),
        ("Thuỷ lợi", "Thủy lợi"),
        ("khoẻ", "khỏe"),
        ("hoạ sĩ", "họa sĩ"),
        ("uỷ ban", "ủy ban"),
        ("tuỳ ý", "tùy ý"),
        ("toà án", "tòa án"),
        ("xoá bỏ", "xóa bỏ"),
        ("Khánh Hoà.", "Khánh Hòa."),
        ("(hoà)", "(hòa)"),
    ],
)
def test_one_tone_placement(written: str, canonical: str) -> None:
    assert normalize_text(written) == canonical
    assert normalize_text(canonical) == canonical


@pytest.mark.parametrize(
    "unchanged",
    ["quý", "quỳnh", "hoàn thành", "ngoài", "khuỷu tay", "nguyễn", "thuở", "của", "quà", "giữa", "Huế"],
)
def test_syllables_whose_tone_has_one_place_are_left_alone(unchanged: str) -> None:
    assert normalize_tone_placement(unchanged) == unchanged


def test_nfd_input_becomes_nfc() -> None:
    composed = "Nghị định về bảo vệ dữ liệu cá nhân, hòa giải"
    decomposed = unicodedata.normalize("NFD", "Nghị định về bảo vệ dữ liệu cá nhân, hoà giải")
    assert decomposed != composed
    assert normalize_text(decomposed) == composed


def test_windows_1258_style_combining_tones_compose() -> None:
    assert normalize_text("thu\u031bo\u031b\u0300ng xuye\u0302n") == "thường xuyên"


def test_invisibles_and_control_characters() -> None:
    assert normalize_text("thông\u00adtin") == "thôngtin"
    assert normalize_text("\ufeffa\u200bb\u200cc\u2060d") == "abcd"
    assert normalize_text("x\x07y\x00z") == "x y z"


def test_whitespace_is_folded_and_paragraphs_kept() -> None:
    assert normalize_text("  Điều 1.\t Phạm vi\u00a0 điều chỉnh  \r\n\r\n\r\n\r\nĐiều 2.\rKhác ") == (
        "Điều 1. Phạm vi điều chỉnh\n\nĐiều 2.\nKhác"
    )


def test_eth_lookalikes_become_d_with_stroke() -> None:
    assert normalize_text("ÐIỀU 5. Ðiều ðó") == "ĐIỀU 5. Điều đó"
    assert fold_diacritics(normalize_text("Ðà Nẵng")) == "da nang"


def test_fold_diacritics() -> None:
    assert fold_diacritics("Tắt sóng 2G ở Đà Nẵng") == "tat song 2g o da nang"
    assert has_diacritics("hòa") and not has_diacritics("hoa")


def test_canonical_text_is_returned_as_is_and_every_other_space_takes_the_full_path() -> None:
    """`normalize_text` skips its steps for text already canonical; any white space but the plain
    space and the line break must send a text through them (str.strip and the inline-space class
    would change it)."""
    canonical = normalize_text("Điều 5. Hòa giải\n\nKhoản 1: thời hạn là 30 ngày.")
    assert normalize_text(canonical) is canonical
    unflagged = [
        hex(code)
        for code in range(sys.maxunicode + 1)
        if chr(code).isspace() and chr(code) not in " \n" and not _NOT_CANONICAL_CHARACTER.search(chr(code))
    ]
    assert unflagged == []
    assert normalize_text("Hoà  giải \n") == "Hòa giải"
