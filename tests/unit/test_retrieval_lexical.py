"""Lexical terms: diacritic-insensitive, tone-placement-insensitive, document numbers and articles."""

from __future__ import annotations

import pytest

from services.retrieval.domain.lexical import (
    document_sparse_vector,
    query_sparse_vector,
    special_terms,
    term_id,
)
from trolyao.documents import Chunk, ChunkKind, DocumentMetadata

pytestmark = pytest.mark.timeout(10)


def _shared(query: str, text: str) -> set[int]:
    document = document_sparse_vector(Chunk(ordinal=0, text=text), DocumentMetadata())
    return set(query_sparse_vector(query).indices) & set(document.indices)


def test_unaccented_query_matches_accented_text_on_every_syllable_and_pair() -> None:
    query = query_sparse_vector("tat song 2g khi nao")
    shared = _shared("tat song 2g khi nao", "Khi nào tắt sóng 2G?")
    assert {term_id("tat"), term_id("song"), term_id("tat_song"), term_id("song_2g")} <= shared
    assert set(query.indices) <= shared | {term_id("2g_khi")}


def test_tone_mark_placement_variants_give_identical_vectors() -> None:
    assert query_sparse_vector("hoà giải") == query_sparse_vector("hòa giải")
    assert query_sparse_vector("thuý") == query_sparse_vector("thúy")


def test_accented_terms_only_from_accented_queries() -> None:
    assert term_id("~sóng") in query_sparse_vector("tắt sóng").indices
    assert term_id("~sóng") not in query_sparse_vector("tat song").indices


def test_document_numbers_and_article_references_are_single_tokens() -> None:
    terms = special_terms("Theo Điều 5 khoản 2 Nghị định 13/2023/NĐ-CP và Luật 91/2015/QH13")
    assert {"#13/2023/nd-cp", "#91/2015/qh13", "@dieu:5", "@khoan:2"} <= set(terms)
    assert term_id("#13/2023/nd-cp") in query_sparse_vector("nghi dinh 13/2023/nd-cp").indices


def test_metadata_number_and_faq_question_are_indexed() -> None:
    vector = document_sparse_vector(
        Chunk(ordinal=0, text="Từ ngày 16/9/2024.", kind=ChunkKind.FAQ, question="Khi nào tắt sóng 2G?"),
        DocumentMetadata(title="Thông báo", number="13/2023/NĐ-CP"),
    )
    assert {term_id("#13/2023/nd-cp"), term_id("tat_song"), term_id("thong_bao")} <= set(vector.indices)
    assert all(value > 0 for value in vector.values)
    assert list(vector.indices) == sorted(vector.indices)


def test_term_ids_are_stable_32_bit() -> None:
    assert term_id("song") == term_id("song")
    assert 0 <= term_id("song") < 2**32
