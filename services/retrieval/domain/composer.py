"""The extractive composer: the shortest text of the best passages that answers the question.

It scores every sentence of the top passages by how much of the question it covers (IDF-weighted
syllables and syllable pairs of the unit), whether it holds the kind of thing asked for (a number,
a date, a name) and how well its passage ranked. The answer is the best sentence alone — a person
wants the sentence, the passage belongs in the citation — grown only where the sentence does not
stand on its own: a list's lead-in ("… gồm:") takes its items, and a rule followed by its exception
("Trừ trường hợp …") takes the exception, both within `CONCISE_ANSWER_CHARS`. A list item is scored
with its lead-in as context, so "lợi nhuận 6 tháng đầu năm" picks the item on profit, not the list.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from services.retrieval.domain.lexical import BIGRAM_JOINER, folded_syllables
from services.retrieval.domain.matching import QuestionTerms, coverage, sentence_coverage, text_terms
from services.retrieval.domain.model import Citation
from services.retrieval.domain.search import Candidate
from services.retrieval.domain.sentences import LIST_ITEM, Sentence, split_sentences
from trolyao.vietnamese import fold_diacritics

ANSWER_MAX_CHARS = 1000
# Growing the answering sentence (a list under its lead-in, a rule's exception) stops here: beyond
# it a reader no longer gets "the sentence that answers" (eval/README: concise = ≤ 400 characters).
CONCISE_ANSWER_CHARS = 400
COMPOSER_PASSAGES = 3
SENTENCE_UNIGRAM_WEIGHT = 1.0
SENTENCE_BIGRAM_WEIGHT = 0.5
ANSWER_TYPE_WEIGHT = 0.25
PASSAGE_RANK_WEIGHT = 0.35
# After the hybrid reranker the passage order is worth more (dev sweep, docs/retrieval-quality.md).
RERANKED_PASSAGE_RANK_WEIGHT = 1.0
HEADING_MAX_CHARS = 60
ELLIPSIS = "…"
# A list item whose own words add nothing to its lead-in loses to the lead-in (which then quotes
# the list): the question is about the list, not one item.
LIST_ITEM_ECHO_PENALTY = 0.1
# A sentence opening like this qualifies the one before it (an exception or a restriction).
# A dash or bullet opening a list item says nothing once the item is quoted alone.
_LETTER = re.compile(r"[^\W\d_]")
MIN_SENTENCE_LETTERS = 2
# Under a long lead-in, the item still gets at least this many characters.
MIN_CLAUSE_ROOM = 150
_CLAUSE_END = re.compile(r"[,;:]\s+")
_BULLET = re.compile(r"^[-–•+]\s+")
_EXCEPTION_START = re.compile(r"^(?:tru (?:truong hop|khi)|ngoai tru|tuy nhien|nhung)\b")


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
_TIME_WORDS = re.compile(
    r"\d{3,4}|\d{1,2}/\d{1,2}|\b(nam|thang|ngay|the ky|thap nien|gio|khi|ke tu|thoi han|thoi diem)\b"
)
# The law a question names as its frame ("Theo Điều 16, Bộ luật Dân sự 2015, …", "Luật Lao động
# năm 2019 quy định …"): every article of that law matches it, so it must not pick the sentence.
_LAW_FRAME = re.compile(
    r"\b(?:theo |can cu )?(?:(?:dieu|khoan|diem) [\w.]+,? )*(?:bo luat|luat|nghi dinh|thong tu)\b[^,?]*?"
    r"(?:nam )?\d{4}(?: quy dinh)?"
)
# Questions that ask for a whole list ("… bao gồm những loại nào?", "… gồm những gì?").
_ASKS_LIST = re.compile(
    r"\b(bao gom|gom nhung|gom co|cac (?:loai|truong hop)"
    r"|nhung (?:loai|truong hop|hinh thuc|dieu kien|hanh vi|quyen|nghia vu|gi))\b"
)
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


def without_law_frame(terms: QuestionTerms, question: str) -> QuestionTerms:
    """The question's terms without those only its law frame holds (`_LAW_FRAME`)."""
    folded = fold_diacritics(question).lower()
    frame = _LAW_FRAME.search(folded)
    if frame is None:
        return terms
    drop = set(folded_syllables(frame.group())) - set(
        folded_syllables(folded[: frame.start()] + " " + folded[frame.end() :])
    )
    unigrams = {term: idf for term, idf in terms.unigrams.items() if term not in drop}
    if not unigrams:
        return terms
    bigrams = {
        term: idf for term, idf in terms.bigrams.items() if not set(term.split(BIGRAM_JOINER)) & drop
    }
    return dataclasses.replace(terms, unigrams=unigrams, bigrams=bigrams)


def asks_list(question: str) -> bool:
    """Whether a question asks for a whole list (`_ASKS_LIST`)."""
    return bool(_ASKS_LIST.search(fold_diacritics(question).lower()))


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
    # The list's lead-in when the sentence is one of its items ("… thì bị phạt tù từ 07 năm đến
    # 15 năm:" above "a) Là chỉ huy hoặc sĩ quan;"): the item does not stand without it.
    lead_in: Sentence | None = None
    features: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ComposedAnswer:
    """The quoted answer text, the passage it comes from and the sentence that carries it."""

    text: str
    candidate: Candidate
    best: ScoredSentence
    ranked: tuple[ScoredSentence, ...]
    question: str
    candidates: tuple[Candidate, ...]


SENTENCE_FEATURES: tuple[str, ...] = (
    "unigram",
    "bigram",
    "type_match",
    "passage_rank",
    "heading_like",
    "echo_item",
    "own_unigram",
    "has_lead_in",
    "is_lead_in",
    "log_length",
    "first_sentence",
    "novelty",
    "previous_coverage",
    "has_digit",
    "missing_rarest",
)
# The hand-set scoring this module started with (used where no fitted weights apply: the hybrid
# engine, whose reranked passage order is worth more — `RERANKED_PASSAGE_RANK_WEIGHT`).
HEURISTIC_SENTENCE_WEIGHTS: Mapping[str, float] = {
    "unigram": SENTENCE_UNIGRAM_WEIGHT,
    "bigram": SENTENCE_BIGRAM_WEIGHT,
    "type_match": ANSWER_TYPE_WEIGHT,
    "passage_rank": PASSAGE_RANK_WEIGHT,
    "heading_like": -ANSWER_TYPE_WEIGHT,
    "echo_item": -LIST_ITEM_ECHO_PENALTY,
}
LENGTH_SCALE = 7.0


def score_sentences(
    candidates: Sequence[Candidate],
    terms: QuestionTerms,
    question: str,
    *,
    weights: Mapping[str, float] = HEURISTIC_SENTENCE_WEIGHTS,
    passage_rank_weight: float | None = None,
) -> list[ScoredSentence]:
    """Every sentence of the top passages, best first (a linear score over `SENTENCE_FEATURES`;
    `passage_rank_weight`, when given, replaces the weights' own passage-rank weight)."""
    if passage_rank_weight is not None:
        weights = {**weights, "passage_rank": passage_rank_weight}
    kind = answer_type(question)
    terms = without_law_frame(terms, question)
    asked = set(folded_syllables(question))
    ceiling = terms.max_idf or 1.0
    empty: tuple[set[str], set[str], set[str]] = (set(), set(), set())
    scored: list[ScoredSentence] = []
    for index, candidate in enumerate(candidates[:COMPOSER_PASSAGES]):
        heading = text_terms([candidate.hit.metadata.title, candidate.hit.chunk.path])
        lead_in: tuple[Sentence, float] | None = None  # a list's lead-in and its coverage
        previous = 0.0
        for sentence in split_sentences(candidate.hit.chunk.text):
            if len(_LETTER.findall(sentence.text)) < MIN_SENTENCE_LETTERS:
                continue  # a bare "1." or "a)" left by the splitter
            is_item = bool(LIST_ITEM.match(sentence.text))
            context = heading
            own_lead_in = lead_in[0] if is_item and lead_in is not None else None
            if is_item and lead_in is not None:
                intro = text_terms([lead_in[0].text])
                context = (heading[0] | intro[0], heading[1] | intro[1], heading[2] | intro[2])
            elif not is_item:
                lead_in = None
            found = sentence_coverage(terms, sentence.text, context)
            own = sentence_coverage(terms, sentence.text, empty)
            type_match = holds_answer_type(sentence.text, kind)
            syllables = folded_syllables(sentence.text)
            echo = (
                context is not heading
                and lead_in is not None
                and found.unigram + found.bigram <= lead_in[1]
            )
            features = {
                "unigram": found.unigram,
                "bigram": found.bigram,
                "type_match": 1.0 if type_match else 0.0,
                "passage_rank": 1.0 / (1.0 + index),
                "heading_like": 1.0
                if len(sentence.text) <= HEADING_MAX_CHARS and sentence.index == 0
                else 0.0,
                "echo_item": 1.0 if echo else 0.0,
                "own_unigram": own.unigram,
                "has_lead_in": 1.0 if own_lead_in is not None else 0.0,
                "is_lead_in": 1.0 if sentence.text.endswith(":") else 0.0,
                "log_length": math.log1p(len(sentence.text)) / LENGTH_SCALE,
                "first_sentence": 1.0 if sentence.index == 0 else 0.0,
                "novelty": sum(t not in asked for t in syllables) / len(syllables) if syllables else 0.0,
                "previous_coverage": previous,
                "has_digit": 1.0 if any(ch.isdigit() for ch in sentence.text) else 0.0,
                "missing_rarest": min(found.missing_max_idf / ceiling, 1.0),
            }
            score = sum(weights.get(name, 0.0) * value for name, value in features.items())
            previous = own.unigram
            if sentence.text.endswith(":"):
                lead_in = (sentence, found.unigram + found.bigram)
            scored.append(
                ScoredSentence(
                    candidate_index=index,
                    sentence=sentence,
                    score=score,
                    unigram_coverage=found.unigram,
                    bigram_coverage=found.bigram,
                    missing_max_idf=found.missing_max_idf,
                    type_match=type_match,
                    lead_in=own_lead_in,
                    features=features,
                )
            )
    scored.sort(key=lambda s: s.score, reverse=True)
    return scored


def concise_quote(
    text: str,
    sentences: Sequence[Sentence],
    best: Sentence,
    *,
    budget: int = ANSWER_MAX_CHARS,
    concise: int = CONCISE_ANSWER_CHARS,
) -> str:
    """The answering sentence alone, or with what it cannot stand without.

    A lead-in ending with ":" takes the sentence after it (always, within `budget`) and the list
    items after that (within `concise`); a sentence followed by its exception takes the exception
    (within `concise`). A sentence longer than `budget` is cut with an ellipsis.
    """
    if len(best.text) > budget:
        return best.text[: budget - len(ELLIPSIS)].rstrip() + ELLIPSIS
    last = best.index

    def span(upto: int) -> int:
        return sentences[upto].end - best.start

    if best.text.endswith(":"):
        if last + 1 < len(sentences) and span(last + 1) <= budget:
            last += 1
            while (
                last + 1 < len(sentences)
                and LIST_ITEM.match(sentences[last + 1].text)
                and span(last + 1) <= concise
            ):
                last += 1
    elif (
        last + 1 < len(sentences)
        and _EXCEPTION_START.match(fold_diacritics(sentences[last + 1].text).lower())
        and span(last + 1) <= concise
    ):
        last += 1
    return text[best.start : sentences[last].end]


def clause_window(text: str, terms: QuestionTerms, *, limit: int) -> str:
    """The run of consecutive clauses of a long sentence (cut at , ; :) that fits `limit` and
    covers most of the question, marked with ellipses where it was cut; `text` if none fits."""
    cuts = [0, *(m.end() for m in _CLAUSE_END.finditer(text)), len(text)]
    clauses = [(cuts[i], cuts[i + 1]) for i in range(len(cuts) - 1) if cuts[i] < cuts[i + 1]]
    best: tuple[float, int, int] | None = None
    for first in range(len(clauses)):
        for last in range(first, len(clauses)):
            start, end = clauses[first][0], clauses[last][1]
            if end - start > limit - 2 * len(ELLIPSIS):
                break
            found = coverage(terms, text_terms([text[start:end]]))
            value = found.unigram + SENTENCE_BIGRAM_WEIGHT * found.bigram
            if best is None or value > best[0] + 1e-9:
                best = (value, start, end)
    if best is None:
        return text
    _, start, end = best
    piece = text[start:end].strip().rstrip(",;:").strip()
    return (ELLIPSIS if start > 0 else "") + piece + (ELLIPSIS if end < len(text) else "")


def quote(
    candidates: Sequence[Candidate],
    best: ScoredSentence,
    terms: QuestionTerms,
    *,
    budget: int,
    whole_list: bool = False,
) -> str:
    """The answer text when `best` is the answering sentence (see the module's docstring);
    `whole_list`: a list item is answered with its whole list when that fits the concise size."""
    text = candidates[best.candidate_index].hit.chunk.text
    if whole_list and best.lead_in is not None:
        listed = _BULLET.sub("", concise_quote(text, split_sentences(text), best.lead_in, budget=budget))
        if len(listed) <= CONCISE_ANSWER_CHARS and best.sentence.text in listed:
            return listed
    quoted = _BULLET.sub("", concise_quote(text, split_sentences(text), best.sentence, budget=budget))
    lead = ""
    if best.lead_in is not None:
        adjacent = best.lead_in.index + 1 == best.sentence.index
        lead = best.lead_in.text + (" " if adjacent else f" {ELLIPSIS} ")
    room = max(CONCISE_ANSWER_CHARS - len(lead), MIN_CLAUSE_ROOM)
    if len(quoted) > room:
        quoted = clause_window(quoted, terms, limit=room)
    return lead + quoted


def compose(
    candidates: Sequence[Candidate],
    terms: QuestionTerms,
    question: str,
    *,
    budget: int = ANSWER_MAX_CHARS,
    weights: Mapping[str, float] = HEURISTIC_SENTENCE_WEIGHTS,
    passage_rank_weight: float | None = None,
) -> ComposedAnswer | None:
    """The extractive answer from the best passages, or None when they hold no sentence."""
    ranked = score_sentences(
        candidates, terms, question, weights=weights, passage_rank_weight=passage_rank_weight
    )
    if not ranked:
        return None
    best = ranked[0]
    return ComposedAnswer(
        text=quote(candidates, best, terms, budget=budget, whole_list=asks_list(question)),
        candidate=candidates[best.candidate_index],
        best=best,
        ranked=tuple(ranked),
        question=question,
        candidates=tuple(candidates),
    )


_KHOAN_LINE = re.compile(r"^\s*(\d{1,3})\.\s", re.MULTILINE)
_DIEM_LINE = re.compile(r"^\s*([a-zđ])\)\s", re.MULTILINE)
_KHOAN_IN_PATH = re.compile(r",?\s*Khoản [^,]*$")


def provision_path(path: str, text: str, offset: int) -> str:
    """The chunk's path narrowed to the Khoản (and Điểm) holding the text at `offset`.

    Legal text puts each khoản ("2. …") and điểm ("a) …") on its own line; a short Điều is one
    chunk whose path says only "Điều 5", so the citation of a sentence in its khoản 2 would
    otherwise not say where it is. Paths that are not an article's are returned unchanged.
    """
    if "Điều" not in path:
        return path
    khoan = diem = None
    for match in _KHOAN_LINE.finditer(text):
        if match.start() > offset:
            break
        khoan = match
    if khoan is None:
        return path
    for match in _DIEM_LINE.finditer(text, khoan.end()):
        if match.start() > offset:
            break
        diem = match
    narrowed = f"{_KHOAN_IN_PATH.sub('', path)}, Khoản {khoan.group(1)}"
    return narrowed + (f", Điểm {diem.group(1)}" if diem is not None else "")


def cite(
    candidate: Candidate,
    composed: ComposedAnswer | None,
    *,
    snippet_chars: int,
    role: str = "answer",
) -> Citation:
    """The citation of a candidate passage; its snippet is the quoted sentence when the composed
    answer comes from this passage (and its path then names the sentence's Khoản / Điểm), else
    the passage's start, at most `snippet_chars` long. The whole passage travels in `passage`."""
    hit = candidate.hit
    snippet = hit.chunk.text
    path = hit.chunk.path
    if composed is not None and composed.candidate.key == candidate.key:
        snippet = composed.best.sentence.text
        path = provision_path(path, hit.chunk.text, composed.best.sentence.start)
    if len(snippet) > snippet_chars:
        snippet = snippet[: snippet_chars - len(ELLIPSIS)].rstrip() + ELLIPSIS
    return Citation(
        document_id=hit.document_id,
        title=hit.metadata.title,
        snippet=snippet,
        path=path,
        number=hit.metadata.number,
        source_url=hit.metadata.source_url,
        chunk_ordinal=hit.chunk.ordinal,
        score=candidate.score,
        role=role,
        passage=hit.chunk.text,
        question=hit.chunk.question.split("\n")[0],
    )


__all__ = [
    "ANSWER_MAX_CHARS",
    "CONCISE_ANSWER_CHARS",
    "HEURISTIC_SENTENCE_WEIGHTS",
    "PASSAGE_RANK_WEIGHT",
    "RERANKED_PASSAGE_RANK_WEIGHT",
    "SENTENCE_FEATURES",
    "AnswerType",
    "ComposedAnswer",
    "ScoredSentence",
    "answer_type",
    "cite",
    "clause_window",
    "compose",
    "concise_quote",
    "holds_answer_type",
    "provision_path",
    "quote",
    "score_sentences",
]
