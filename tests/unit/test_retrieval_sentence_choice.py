"""Which sentence answers: a law the question names as its frame does not pick the sentence, and
a question asking for a list is answered with the whole list when it is short."""

from __future__ import annotations

from pathlib import Path

from services.retrieval.adapters.vectorstore_edge import EdgeVectorStore
from services.retrieval.domain.answering import AnswerEngine, AnswerSettings
from services.retrieval.domain.composer import AnswerType, answer_type, asks_list, without_law_frame
from services.retrieval.domain.matching import QuestionTerms
from tests.unit.test_retrieval_concise_answers import DENSE_DIMENSION, _chunks

ADULT = (
    "Điều 20. Người thành niên\n\n"
    "1. Người thành niên là người từ đủ mười tám tuổi trở lên.\n\n"
    "2. Người thành niên có năng lực hành vi dân sự đầy đủ, trừ trường hợp quy định tại các điều 22, 23 "
    "và 24 của Bộ luật này.\n"
)
REAL_ESTATE = (
    "Điều 107. Bất động sản và động sản\n\n"
    "1. Bất động sản bao gồm:\n"
    "a) Đất đai;\n"
    "b) Nhà, công trình xây dựng gắn liền với đất đai;\n"
    "c) Tài sản khác gắn liền với đất đai, nhà, công trình xây dựng;\n"
    "d) Tài sản khác theo quy định của pháp luật.\n\n"
    "2. Động sản là những tài sản không phải là bất động sản.\n"
)


def _engine(tmp_path: Path, documents: dict[str, tuple[str, str]]) -> tuple[AnswerEngine, EdgeVectorStore]:
    store = EdgeVectorStore(tmp_path / "store", dense_dimension=DENSE_DIMENSION)
    engine = AnswerEngine(store, None, settings=AnswerSettings(abstain_below=0.0))
    for document_id, (title, text) in documents.items():
        chunks = _chunks("unit", document_id, title, text)
        store.upsert_chunks("unit", chunks)
        engine.on_document_changed("unit", added=chunks)
    return engine, store


def test_the_law_a_question_names_does_not_pick_the_sentence(tmp_path: Path) -> None:
    engine, store = _engine(tmp_path, {"blds-20": ("", ADULT)})
    try:
        answer = engine.ask("unit", "Theo Bộ luật dân sự 2015, người thành niên là người như thế nào?")
        assert "mười tám tuổi" in answer.text
    finally:
        store.close()


def test_a_list_question_is_answered_with_the_whole_short_list(tmp_path: Path) -> None:
    engine, store = _engine(tmp_path, {"blds-107": ("", REAL_ESTATE)})
    try:
        answer = engine.ask("unit", "Theo Bộ luật Dân sự năm 2015, bất động sản bao gồm những loại nào?")
        assert answer.text.startswith("Bất động sản bao gồm:")
        assert "Đất đai" in answer.text and "Tài sản khác theo quy định của pháp luật" in answer.text
        assert len(answer.text) <= 400
        # A question about one item is still answered by that item (under its lead-in).
        item = engine.ask("unit", "Nhà gắn liền với đất đai có phải là bất động sản không?")
        assert "Nhà, công trình xây dựng" in item.text and "a) Đất đai" not in item.text
    finally:
        store.close()


def test_law_frame_terms_are_dropped_only_where_the_question_does_not_use_them_elsewhere() -> None:
    terms = QuestionTerms(
        unigrams={t: 1.0 for t in ("theo", "bo", "luat", "dan", "su", "2015", "nang", "luc", "phap")},
        bigrams={"bo_luat": 1.0, "dan_su": 1.0, "nang_luc": 1.0},
        special=frozenset(),
    )
    question = "Theo Bộ luật dân sự 2015, năng lực pháp luật dân sự tồn tại khi nào?"
    kept = without_law_frame(terms, question)
    assert {"bo", "2015"}.isdisjoint(kept.unigrams)
    assert {"luat", "dan", "su", "nang", "luc"} <= set(kept.unigrams)  # used outside the frame too
    assert "bo_luat" not in kept.bigrams and "dan_su" in kept.bigrams
    assert without_law_frame(terms, "Năng lực pháp luật dân sự tồn tại khi nào?") is terms


def test_question_wording() -> None:
    assert asks_list("Bất động sản bao gồm những loại nào?")
    assert asks_list("Luật cấm những hành vi nào?")
    assert not asks_list("Khi nào tắt sóng 2G?")
    assert answer_type("Năng lực pháp luật tồn tại khi nào?") is AnswerType.TIME
