"""AnswerEngine over a real EdgeVectorStore (lexical only): the behaviours the bar depends on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.retrieval.adapters.vectorstore_edge import EdgeVectorStore
from services.retrieval.domain.answering import AnswerEngine
from services.retrieval.domain.diacritics import DiacriticRestorer
from services.retrieval.domain.model import StoredChunk
from services.retrieval.domain.unit_model import UnitLanguageModel
from services.retrieval.domain.verifier import MIN_PASSAGE_COVERAGE, AnswerVerifier, VerifierWeights
from tests.support import stored_chunk
from trolyao.documents import Chunk, ChunkKind, DocumentMetadata

pytestmark = pytest.mark.timeout(60)

DENSE_DIMENSION = 4

UNIT_A_DOCUMENTS: dict[str, tuple[DocumentMetadata, list[Chunk]]] = {
    "nd-13-2023": (
        DocumentMetadata(title="Nghị định bảo vệ dữ liệu cá nhân", number="13/2023/NĐ-CP"),
        [
            Chunk(
                ordinal=0,
                path="Điều 2",
                text="Dữ liệu cá nhân là thông tin dưới dạng ký hiệu, chữ viết, chữ số, hình ảnh, âm "
                "thanh gắn liền với một con người cụ thể hoặc giúp xác định một con người cụ thể.",
            ),
            Chunk(
                ordinal=1,
                path="Điều 43",
                text="Nghị định này có hiệu lực thi hành từ ngày 01 tháng 7 năm 2023.",
            ),
        ],
    ),
    "hoa-giai": (
        DocumentMetadata(title="Luật Hoà giải ở cơ sở"),
        [
            Chunk(
                ordinal=0,
                text="Hoà giải viên là người được bầu làm hoà giải viên để thực hiện hoạt động hoà giải "
                "ở cơ sở. Tổ hoà giải có từ 03 hoà giải viên trở lên.",
            )
        ],
    ),
    "bao-cao-2023": (
        DocumentMetadata(title="Báo cáo tài chính năm 2023"),
        [
            Chunk(
                ordinal=0,
                text="Doanh thu năm 2023 của công ty đạt 120 tỷ đồng. Lợi nhuận sau thuế năm 2023 đạt 15 "
                "tỷ đồng. Số lao động bình quân là 340 người.",
            )
        ],
    ),
    "faq-2g": (
        DocumentMetadata(title="Hỏi đáp về tắt sóng 2G"),
        [
            Chunk(
                ordinal=0,
                kind=ChunkKind.FAQ,
                question="Khi nào tắt sóng 2G?\nBao giờ thì ngừng sóng 2G?",
                text="Các nhà mạng ngừng công nghệ 2G từ ngày 16 tháng 9 năm 2024 theo lộ trình của Bộ.",
            )
        ],
    ),
}

UNIT_B_DOCUMENTS: dict[str, tuple[DocumentMetadata, list[Chunk]]] = {
    "quy-che-b": (
        DocumentMetadata(title="Quy chế làm việc"),
        [Chunk(ordinal=0, text="Giờ làm việc buổi sáng từ 7 giờ 30 đến 11 giờ 30.")],
    )
}


def _stored(unit: str, documents: dict[str, tuple[DocumentMetadata, list[Chunk]]]) -> list[StoredChunk]:
    return [
        stored_chunk(unit, document_id, chunk, metadata)
        for document_id, (metadata, chunks) in documents.items()
        for chunk in chunks
    ]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[AnswerEngine]:
    store = EdgeVectorStore(tmp_path / "store", dense_dimension=DENSE_DIMENSION)
    engine = AnswerEngine(store, None)
    for unit, documents in (("unit-a", UNIT_A_DOCUMENTS), ("unit-b", UNIT_B_DOCUMENTS)):
        chunks = _stored(unit, documents)
        store.upsert_chunks(unit, chunks)
        engine.on_document_changed(unit, added=chunks)
    yield engine
    store.close()


def test_diacritic_free_question_is_answered(engine: AnswerEngine) -> None:
    answer = engine.ask("unit-a", "nghi dinh du lieu ca nhan co hieu luc tu ngay nao")
    assert answer.answered
    assert "01 tháng 7 năm 2023" in answer.text
    assert answer.citations[0].document_id == "nd-13-2023"
    assert answer.citations[0].path == "Điều 43"
    assert answer.citations[0].number == "13/2023/NĐ-CP"


def test_tone_mark_variants_find_the_same_passage(engine: AnswerEngine) -> None:
    old_style = engine.search("unit-a", "tổ hoà giải có bao nhiêu hoà giải viên", limit=1)
    new_style = engine.search("unit-a", "tổ hòa giải có bao nhiêu hòa giải viên", limit=1)
    assert old_style[0].document_id == new_style[0].document_id == "hoa-giai"
    assert old_style[0].score == pytest.approx(new_style[0].score)


def test_document_number_query_finds_the_document(engine: AnswerEngine) -> None:
    hits = engine.search("unit-a", "13/2023/NĐ-CP", limit=3)
    assert hits[0].document_id == "nd-13-2023"


def test_curated_faq_answer_comes_first_and_verbatim(engine: AnswerEngine) -> None:
    answer = engine.ask("unit-a", "tat song 2g khi nao")
    assert answer.answered
    assert answer.source == "faq"
    assert answer.text == UNIT_A_DOCUMENTS["faq-2g"][1][0].text
    assert answer.citations[0].document_id == "faq-2g"
    assert answer.citations[0].question == "Khi nào tắt sóng 2G?"  # its first phrasing names it


def test_out_of_scope_question_is_abstained_with_a_helpful_message(engine: AnswerEngine) -> None:
    answer = engine.ask("unit-a", "Giá vàng SJC hôm nay bao nhiêu một lượng?")
    assert not answer.answered
    assert answer.text.startswith("Tôi chưa có thông tin")
    assert "ghi lại" in answer.text
    assert answer.confidence < 0.5


def test_no_result_ever_comes_from_another_unit(engine: AnswerEngine) -> None:
    unit_b_ids = set(UNIT_B_DOCUMENTS)
    for question in ("Doanh thu năm 2023 của công ty là bao nhiêu?", "tat song 2g khi nao", "giờ làm việc"):
        answer = engine.ask("unit-b", question)
        assert {c.document_id for c in answer.citations} <= unit_b_ids
        assert {hit.document_id for hit in engine.search("unit-b", question, limit=10)} <= unit_b_ids
    assert engine.search("unit-c", "giờ làm việc", limit=5) == []


def test_follow_up_question_is_read_against_the_conversation(engine: AnswerEngine) -> None:
    first = engine.ask("unit-a", "Doanh thu năm 2023 của công ty là bao nhiêu?")
    assert first.answered and "120 tỷ" in first.text
    follow_up = engine.ask(
        "unit-a",
        "còn lợi nhuận thì sao?",
        history=[("Doanh thu năm 2023 của công ty là bao nhiêu?", first.text)],
    )
    assert follow_up.answered
    assert "15 tỷ" in follow_up.text
    assert "lợi nhuận" in follow_up.resolved_question


def test_deleted_document_leaves_the_unit_model() -> None:
    model = UnitLanguageModel()
    model.add(["Tổ hoà giải có từ 03 hoà giải viên."])
    model.remove(["Tổ hoà giải có từ 03 hoà giải viên."])
    assert model.chunk_count == 0 and not model.document_frequency and not model.accented_pairs


def test_diacritics_are_restored_from_the_unit_corpus() -> None:
    model = UnitLanguageModel()
    model.add(["Các nhà mạng tắt sóng 2G từ tháng 9.", "Người dân cần đổi máy trước khi tắt sóng."])
    assert DiacriticRestorer(model).restore("tat song 2G") == "tắt sóng 2G"


def test_a_unit_threshold_replaces_the_default_for_composed_answers_only(engine: AnswerEngine) -> None:
    question = "Doanh thu năm 2023 của công ty là bao nhiêu?"
    default = engine.ask("unit-a", question)
    assert default.answered and default.source != "faq"
    strict = engine.ask("unit-a", question, abstain_below=min(0.999, default.confidence + 0.01))
    assert not strict.answered and strict.source == "none"
    assert strict.confidence == pytest.approx(default.confidence)
    assert engine.ask("unit-a", question, abstain_below=default.confidence).answered
    # A curated FAQ answer is matched by similarity and does not depend on the threshold.
    faq = engine.ask("unit-a", "tat song 2g khi nao", abstain_below=0.999)
    assert faq.answered and faq.source == "faq"


def test_a_passage_that_does_not_cover_the_question_is_never_confident(tmp_path: Path) -> None:
    # A verifier that would answer everything: the coverage gate alone must stop the unrelated one.
    store = EdgeVectorStore(tmp_path / "store", dense_dimension=DENSE_DIMENSION)
    engine = AnswerEngine(store, None, verifier=AnswerVerifier(VerifierWeights(bias=10.0, weights={})))
    chunks = _stored("unit-a", UNIT_A_DOCUMENTS)
    store.upsert_chunks("unit-a", chunks)
    engine.on_document_changed("unit-a", added=chunks)
    unrelated = engine.ask("unit-a", "Thủ tục đăng ký kết hôn gồm những giấy tờ gì?")
    assert not unrelated.answered
    assert unrelated.confidence < MIN_PASSAGE_COVERAGE
    related = engine.ask("unit-a", "Doanh thu năm 2023 là bao nhiêu?")
    assert related.answered
    assert "120 tỷ đồng" in related.text
    store.close()
