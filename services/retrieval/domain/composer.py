"""The extractive composer: the sentence(s) of the best passages that answer the question.

It scores every sentence of the top passages by how much of the question it covers (IDF-weighted
syllables and syllable pairs of the unit), whether it holds the kind of thing asked for (a number,
a date, a name) and how well its passage ranked; it then quotes the best sentence with as much of
its surrounding clause as fits the answer budget (≤1,000 characters), in the text's own order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.retrieval.domain.matching import QuestionTerms, sentence_coverage, text_terms
from services.retrieval.domain.model import Citation
from services.retrieval.domain.search import Candidate
from services.retrieval.domain.sentences import Sentence, split_sentences
from trolyao.vietnamese import fold_diacritics

ANSWER_MAX_CHARS = 1000
COMPOSER_PASSAGES = 3
SENTENCE_UNIGRAM_WEIGHT = 1.0
SENTENCE_BIGRAM_WEIGHT = 0.5
ANSWER_TYPE_WEIGHT = 0.25
PASSAGE_RANK_WEIGHT = 0.35
# After the hybrid reranker the passage order is worth more (dev sweep, docs/retrieval-quality.md).
RERANKED_PASSAGE_RANK_WEIGHT = 1.0
HEADING_MAX_CHARS = 60
ELLIPSIS = "…"


class AnswerType(StrEnum):
    """What kind of thing a question asks for, from its question words."""

    NUMBER = "number"
    TIME = "time"
    PERSON = "person"
    PLACE = "place"
    OTHER = "other"


_TYPE_CUES: tuple[tuple[AnswerType, re.Pattern[str]], ...] = (
    (
        AnswerType.TIME,
        re.compile(
            r"\b(khi nao|bao gio|luc nao|nam nao|ngay nao|thang nao|thoi diem nao|the ky nao|nam bao nhieu)\b"
        ),
    ),
    (AnswerType.NUMBER, re.compile(r"\b(bao nhieu|may|bao lau|muc nao|toi da|toi thieu|ti le|ty le)\b")),
    (AnswerType.PERSON, re.compile(r"\b(ai|nguoi nao|nhan vat nao)\b")),
    (AnswerType.PLACE, re.compile(r"\b(o dau|noi nao|dau|quoc gia nao|thanh pho nao|tinh nao|nuoc nao)\b")),
)
_NUMBER_WORDS = re.compile(
    r"\d|\b(mot|hai|ba|bon|nam|sau|bay|tam|chin|muoi|tram|nghin|ngan|trieu|ty|ti|nua)\b"
)
_TIME_WORDS = re.compile(r"\d{3,4}|\b(nam|thang|ngay|the ky|thap nien|gio)\b")
_PROPER_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-ZÀ-ỸĐ][a-zà-ỹđ]+")


def answer_type(question: str) -> AnswerType:
    """The answer type a question's wording asks for."""
    folded = fold_diacritics(question)
    for kind, cue in _TYPE_CUES:
        if cue.search(folded):
            return kind
    return AnswerType.OTHER


def holds_answer_type(sentence: str, kind: AnswerType) -> bool:
    """Whether a sentence contains something of the asked type."""
    if kind is AnswerType.OTHER:
        return True
    folded = fold_diacritics(sentence)
    if kind is AnswerType.NUMBER:
        return bool(_NUMBER_WORDS.search(folded))
    if kind is AnswerType.TIME:
        return bool(_TIME_WORDS.search(folded))
    return bool(_PROPER_NAME.search(sentence))


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    """A sentence of one candidate passage with its composer score and coverage."""

    candidate_index: int
    sentence: Sentence
    score: float
    unigram_coverage: float
    bigram_coverage: float
    missing_max_idf: float
    type_match: bool


@dataclass(frozen=True, slots=True)
class ComposedAnswer:
    """The quoted answer text, the passage it comes from and the sentence that carries it."""

    text: str
    candidate: Candidate
    best: ScoredSentence
    ranked: tuple[ScoredSentence, ...]
    question: str
    candidates: tuple[Candidate, ...]


def score_sentences(
    candidates: Sequence[Candidate],
    terms: QuestionTerms,
    question: str,
    *,
    passage_rank_weight: float = PASSAGE_RANK_WEIGHT,
) -> list[ScoredSentence]:
    """Every sentence of the top passages, best first."""
    kind = answer_type(question)
    scored: list[ScoredSentence] = []
    for index, candidate in enumerate(candidates[:COMPOSER_PASSAGES]):
        heading = text_terms([candidate.hit.metadata.title, candidate.hit.chunk.path])
        for sentence in split_sentences(candidate.hit.chunk.text):
            found = sentence_coverage(terms, sentence.text, heading)
            type_match = holds_answer_type(sentence.text, kind)
            score = (
                SENTENCE_UNIGRAM_WEIGHT * found.unigram
                + SENTENCE_BIGRAM_WEIGHT * found.bigram
                + ANSWER_TYPE_WEIGHT * (1.0 if type_match else 0.0)
                + passage_rank_weight / (1.0 + index)
            )
            if len(sentence.text) <= HEADING_MAX_CHARS and sentence.index == 0:
                score -= ANSWER_TYPE_WEIGHT
            scored.append(
                ScoredSentence(
                    candidate_index=index,
                    sentence=sentence,
                    score=score,
                    unigram_coverage=found.unigram,
                    bigram_coverage=found.bigram,
                    missing_max_idf=found.missing_max_idf,
                    type_match=type_match,
                )
            )
    scored.sort(key=lambda s: s.score, reverse=True)
    return scored


def quote_window(text: str, sentences: Sequence[Sentence], best: Sentence, budget: int) -> str:
    """The best sentence grown by its neighbours (following first) while it fits the budget."""
    if len(best.text) > budget:
        return best.text[: budget - len(ELLIPSIS)].rstrip() + ELLIPSIS
    first = last = best.index
    while True:
        grown = False
        for step in (last + 1, first - 1):
            if 0 <= step < len(sentences):
                lo, hi = min(first, step), max(last, step)
                span = text[sentences[lo].start : sentences[hi].end]
                if len(span) <= budget:
                    first, last = lo, hi
                    grown = True
        if not grown:
            break
    return text[sentences[first].start : sentences[last].end]


def compose(
    candidates: Sequence[Candidate],
    terms: QuestionTerms,
    question: str,
    *,
    budget: int = ANSWER_MAX_CHARS,
    passage_rank_weight: float = PASSAGE_RANK_WEIGHT,
) -> ComposedAnswer | None:
    """The extractive answer from the best passages, or None when they hold no sentence."""
    ranked = score_sentences(candidates, terms, question, passage_rank_weight=passage_rank_weight)
    if not ranked:
        return None
    best = ranked[0]
    candidate = candidates[best.candidate_index]
    text = candidate.hit.chunk.text
    sentences = split_sentences(text)
    quoted = quote_window(text, sentences, best.sentence, budget)
    return ComposedAnswer(
        text=quoted,
        candidate=candidate,
        best=best,
        ranked=tuple(ranked),
        question=question,
        candidates=tuple(candidates),
    )


def cite(candidate: Candidate, composed: ComposedAnswer | None, *, snippet_chars: int) -> Citation:
    """The citation of a candidate passage; its snippet is the quoted sentence when the composed
    answer comes from this passage, else the passage's start, at most `snippet_chars` long."""
    hit = candidate.hit
    snippet = hit.chunk.text
    if composed is not None and composed.candidate.key == candidate.key:
        snippet = composed.best.sentence.text
    if len(snippet) > snippet_chars:
        snippet = snippet[: snippet_chars - len(ELLIPSIS)].rstrip() + ELLIPSIS
    return Citation(
        document_id=hit.document_id,
        title=hit.metadata.title,
        snippet=snippet,
        path=hit.chunk.path,
        number=hit.metadata.number,
        source_url=hit.metadata.source_url,
        chunk_ordinal=hit.chunk.ordinal,
        score=candidate.score,
    )


__all__ = [
    "ANSWER_MAX_CHARS",
    "PASSAGE_RANK_WEIGHT",
    "RERANKED_PASSAGE_RANK_WEIGHT",
    "AnswerType",
    "ComposedAnswer",
    "ScoredSentence",
    "answer_type",
    "cite",
    "compose",
    "holds_answer_type",
    "quote_window",
    "score_sentences",
]
