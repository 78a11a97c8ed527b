"""Curated FAQ first: a question that matches a FAQ entry's question gets its curated answer.

FAQ chunks (`ChunkKind.FAQ`) carry one or more phrasings of a question in `chunk.question` (one
per line: the sheet's question plus those staff linked to it) and the curated answer in `text`.
A match is confident when one phrasing and the user's question share most of their content terms
both ways (IDF-weighted F1 over folded syllables and syllable pairs), so "tắt sóng 2G khi nào" finds
"Khi nào tắt sóng 2G?" but "tắt sóng 3G khi nào" does not.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.retrieval.domain.matching import QuestionTerms, question_terms
from services.retrieval.domain.search import Candidate
from services.retrieval.domain.unit_model import UnitLanguageModel

FAQ_CANDIDATES = 5
FAQ_MATCH_THRESHOLD = 0.72
BIGRAM_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class FaqMatch:
    """The FAQ entry that matched, the phrasing that matched it and how well (0..1)."""

    candidate: Candidate
    phrasing: str
    similarity: float


def _weighted_f1(left: dict[str, float], right: dict[str, float]) -> float:
    if not left or not right:
        return 0.0
    shared = left.keys() & right.keys()
    hit_left = sum(left[t] for t in shared)
    hit_right = sum(right[t] for t in shared)
    precision = hit_right / sum(right.values())
    recall = hit_left / sum(left.values())
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def phrasing_similarity(asked: QuestionTerms, phrasing: QuestionTerms) -> float:
    """Symmetric similarity of two questions (1 = same content terms)."""
    unigram = _weighted_f1(asked.unigrams, phrasing.unigrams)
    if not asked.bigrams and not phrasing.bigrams:
        return unigram
    bigram = _weighted_f1(asked.bigrams, phrasing.bigrams)
    special_penalty = 0.0 if asked.special <= phrasing.special else 0.5
    return max((1 - BIGRAM_SHARE) * unigram + BIGRAM_SHARE * bigram - special_penalty, 0.0)


def best_faq_match(
    candidates: list[Candidate], asked: QuestionTerms, model: UnitLanguageModel
) -> FaqMatch | None:
    """The most similar FAQ phrasing among the candidates, if any candidate has phrasings."""
    best: FaqMatch | None = None
    for candidate in candidates[:FAQ_CANDIDATES]:
        for phrasing in candidate.hit.chunk.question.splitlines():
            if not phrasing.strip():
                continue
            similarity = phrasing_similarity(asked, question_terms(phrasing, model))
            if best is None or similarity > best.similarity:
                best = FaqMatch(candidate=candidate, phrasing=phrasing.strip(), similarity=similarity)
    return best


__all__ = ["FAQ_MATCH_THRESHOLD", "FaqMatch", "best_faq_match", "phrasing_similarity"]
