"""The optional generative mode: a chat model rewrites an extractive answer from the same passages.

Off by default (`TROLYAO_RETRIEVAL_GENERATOR=none`); the extractive answer stands on its own and is
always computed first. Generation only rewrites answers the extractive path would give: the
verifier has already decided to answer, and its confidence is kept.

The model is never trusted. Its text is used only when this module's own check passes:

- it fits the answer budget, is not the abstention token, and cites only passages it was shown;
- every stretch of text ends with citation markers (`[1]`, `[1][2]`, `[1, 2]`);
- every stretch is *quoted* from the passages it cites (the grounding rule): after folding
  diacritics, at least `MIN_QUOTED_SHARE` of its syllables lie inside a run of `QUOTE_NGRAM`
  consecutive syllables found verbatim in one of those passages, or inside one of their whole
  title / number / path fields, and every syllable holding a digit and every negation word lies
  inside such a run (a text shorter than a run must appear whole). A share alone would let one
  changed number or one inserted "không" through a long quote, and either flips the meaning.

Otherwise the extractive answer is returned unchanged except for the `generation_fallback` signal,
and the reason is logged. The markers stay in the text, renumbered to the answer's citations.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.retrieval.domain.composer import ANSWER_MAX_CHARS, ComposedAnswer, cite
from services.retrieval.domain.lexical import syllables
from services.retrieval.domain.model import Answer, Citation, GenerationPassage
from services.retrieval.domain.ports import Generator
from services.retrieval.domain.search import Candidate
from trolyao.vietnamese import fold_diacritics

logger = logging.getLogger(__name__)

GENERATION_PASSAGES = 4
PASSAGE_MAX_CHARS = 1500
MIN_QUOTED_SHARE = 0.85
QUOTE_NGRAM = 3
ELLIPSIS = "…"
# What the model answers when the passages do not answer the question (ASCII: models keep it intact).
ABSTENTION_TOKEN = "KHONG_CO_THONG_TIN"
NEGATION_WORDS = frozenset({"không", "chưa", "chẳng", "chả", "chớ", "đừng", "cấm"})
SOURCE_GENERATIVE = "generative"
SIGNAL_USED = "generation_used"
SIGNAL_QUOTED_SHARE = "generation_quoted_share"
SIGNAL_FALLBACK = "generation_fallback"

_MARKER_GROUP = re.compile(r"(?:\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\])+")
_MARKER_NUMBER = re.compile(r"\d+")


class FallbackReason(StrEnum):
    """Why a generated text was not used (logged, and tested)."""

    GENERATOR_FAILED = "generator_failed"
    MODEL_ABSTAINED = "model_abstained"
    EMPTY = "empty"
    TOO_LONG = "too_long"
    UNCITED_TEXT = "uncited_text"
    UNKNOWN_PASSAGE = "unknown_passage"
    UNGROUNDED = "ungrounded"


@dataclass(frozen=True, slots=True)
class CitedSegment:
    """A stretch of generated text, the passages it cites (1-based) and its quoted share."""

    text: str
    passages: tuple[int, ...]
    quoted_share: float = 0.0


@dataclass(frozen=True, slots=True)
class GroundingCheck:
    """The verdict on a generated text: its cited segments, or why it cannot be used."""

    segments: tuple[CitedSegment, ...] = ()
    failure: FallbackReason | None = None

    @property
    def quoted_share(self) -> float:
        """The lowest quoted share of any segment (0 when there is none)."""
        return min((segment.quoted_share for segment in self.segments), default=0.0)


def passage_candidates(composed: ComposedAnswer, limit: int = GENERATION_PASSAGES) -> list[Candidate]:
    """The composed quote's passage first, then the next best candidates, each chunk once."""
    chosen: list[Candidate] = []
    seen: set[tuple[str, int]] = set()
    for candidate in (composed.candidate, *composed.candidates):
        if candidate.key in seen:
            continue
        seen.add(candidate.key)
        chosen.append(candidate)
        if len(chosen) >= limit:
            break
    return chosen


def as_passage(number: int, candidate: Candidate, max_chars: int = PASSAGE_MAX_CHARS) -> GenerationPassage:
    """A candidate as the model sees it, its text cut to `max_chars` at a word boundary."""
    hit = candidate.hit
    text = hit.chunk.text
    if len(text) > max_chars:
        text = text[: max_chars - len(ELLIPSIS)].rsplit(" ", 1)[0].rstrip() + ELLIPSIS
    return GenerationPassage(
        number=number,
        text=text,
        title=hit.metadata.title,
        document_number=hit.metadata.number,
        path=hit.chunk.path,
    )


def _folded_syllables(text: str) -> tuple[list[str], list[str]]:
    marked = syllables(text)
    return marked, [fold_diacritics(syllable) for syllable in marked]


@dataclass(frozen=True, slots=True)
class QuotedRuns:
    """What counts as quoted from some passages, as tuples of folded syllables.

    `runs`: every `QUOTE_NGRAM` consecutive syllables of a passage's text and header fields, and
    each whole header field (a path like "Điều 43" is shorter than a run but quoted all the same);
    `fragments`: every shorter run, against which only a text shorter than `QUOTE_NGRAM` is read.
    """

    runs: frozenset[tuple[str, ...]]
    fragments: frozenset[tuple[str, ...]]


def quoted_runs(passages: Sequence[GenerationPassage]) -> QuotedRuns:
    """The quotable runs of the given passages."""
    runs: set[tuple[str, ...]] = set()
    fragments: set[tuple[str, ...]] = set()
    for passage in passages:
        headers = (passage.title, passage.document_number, passage.path)
        for part in (*headers, passage.text):
            _, folded = _folded_syllables(part)
            runs.update(_windows(folded, QUOTE_NGRAM))
            for size in range(1, QUOTE_NGRAM):
                fragments.update(_windows(folded, size))
            if part in headers and folded:
                runs.add(tuple(folded))
    return QuotedRuns(runs=frozenset(runs), fragments=frozenset(fragments))


def _windows(folded: Sequence[str], size: int) -> list[tuple[str, ...]]:
    return [tuple(folded[start : start + size]) for start in range(len(folded) - size + 1)]


def quoted_share(text: str, quoted: QuotedRuns) -> tuple[float, bool]:
    """Share of the text's syllables inside a quoted run, and whether every critical one is.

    Critical syllables are numbers and negation words. A text shorter than `QUOTE_NGRAM`
    syllables must appear whole.
    """
    marked, folded = _folded_syllables(text)
    if not folded:
        return 1.0, True
    if len(folded) < QUOTE_NGRAM:
        whole = tuple(folded) in quoted.fragments or tuple(folded) in quoted.runs
        return (1.0, True) if whole else (0.0, False)
    covered = [False] * len(folded)
    for size in {len(run) for run in quoted.runs}:
        for start, window in enumerate(_windows(folded, size)):
            if window in quoted.runs:
                covered[start : start + size] = [True] * size
    critical_covered = all(
        covered[index]
        for index, syllable in enumerate(marked)
        if syllable in NEGATION_WORDS or any(ch.isdigit() for ch in syllable)
    )
    return sum(covered) / len(folded), critical_covered


def _cited_segments(text: str) -> tuple[list[CitedSegment], str]:
    """Stretches of text with the markers that close them, and the uncited text after the last.

    Every marker of the text ends up in some segment (so each is checked and renumbered).
    """
    segments: list[CitedSegment] = []
    leading: tuple[int, ...] = ()
    start = 0
    for match in _MARKER_GROUP.finditer(text):
        numbers = tuple(int(number) for number in _MARKER_NUMBER.findall(match.group(0)))
        body = text[start : match.start()]
        start = match.end()
        if syllables(body):
            segments.append(CitedSegment(body, leading + numbers))
            leading = ()
        elif segments:
            # "… [1]. [2]": markers after the full stop belong to the sentence before it.
            previous = segments[-1]
            segments[-1] = CitedSegment(previous.text, previous.passages + numbers)
        else:
            # Markers before any text count with the first stretch's own markers.
            leading += numbers
    return segments, text[start:]


def check_grounding(
    text: str,
    passages: Sequence[GenerationPassage],
    *,
    max_chars: int = ANSWER_MAX_CHARS,
    min_quoted_share: float = MIN_QUOTED_SHARE,
) -> GroundingCheck:
    """Whether a generated text may be shown: cited, within budget, quoted from what it cites."""
    text = text.strip()
    if fold_diacritics(ABSTENTION_TOKEN) in fold_diacritics(text):
        return GroundingCheck(failure=FallbackReason.MODEL_ABSTAINED)
    if not syllables(text):
        return GroundingCheck(failure=FallbackReason.EMPTY)
    if len(text) > max_chars:
        return GroundingCheck(failure=FallbackReason.TOO_LONG)
    segments, trailing = _cited_segments(text)
    if not segments or syllables(trailing):
        return GroundingCheck(failure=FallbackReason.UNCITED_TEXT)
    by_number = {passage.number: passage for passage in passages}
    if any(number not in by_number for segment in segments for number in segment.passages):
        return GroundingCheck(failure=FallbackReason.UNKNOWN_PASSAGE)
    checked: list[CitedSegment] = []
    for segment in segments:
        quoted = quoted_runs([by_number[number] for number in segment.passages])
        share, critical_covered = quoted_share(segment.text, quoted)
        checked.append(dataclasses.replace(segment, quoted_share=share))
        if share < min_quoted_share or not critical_covered:
            return GroundingCheck(segments=tuple(checked), failure=FallbackReason.UNGROUNDED)
    return GroundingCheck(segments=tuple(checked))


def cited_order(check: GroundingCheck) -> list[int]:
    """Passage numbers in the order the text first cites them."""
    order: list[int] = []
    for segment in check.segments:
        for number in segment.passages:
            if number not in order:
                order.append(number)
    return order


def renumber_markers(text: str, mapping: dict[int, int]) -> str:
    """The text with each `[n]` replaced by `[mapping[n]]` (passage number → citation position)."""

    def renumber_group(match: re.Match[str]) -> str:
        return _MARKER_NUMBER.sub(lambda number: str(mapping[int(number.group(0))]), match.group(0))

    return _MARKER_GROUP.sub(renumber_group, text)


class GroundedGeneration:
    """Rewrites an extractive answer with a `Generator`, keeping it only when it is grounded."""

    def __init__(
        self,
        generator: Generator,
        *,
        citation_limit: int,
        snippet_chars: int,
        answer_max_chars: int = ANSWER_MAX_CHARS,
        passages: int = GENERATION_PASSAGES,
        passage_max_chars: int = PASSAGE_MAX_CHARS,
        min_quoted_share: float = MIN_QUOTED_SHARE,
    ) -> None:
        self._generator = generator
        self._answer_max_chars = answer_max_chars
        self._citation_limit = citation_limit
        self._snippet_chars = snippet_chars
        self._passages = passages
        self._passage_max_chars = passage_max_chars
        self._min_quoted_share = min_quoted_share

    def rewrite(self, extractive: Answer, composed: ComposedAnswer, question: str) -> Answer:
        """The generated answer when grounded, else `extractive` with the fallback signal.

        `question` is the question as the model should read it (the resolved one for follow-ups).
        """
        if not extractive.answered:
            return extractive
        candidates = passage_candidates(composed, self._passages)
        passages = [
            as_passage(number, candidate, self._passage_max_chars)
            for number, candidate in enumerate(candidates, start=1)
        ]
        try:
            generated = self._generator.generate(question, passages)
        except Exception as error:  # an optional mode must never take answering down with it
            return self._fall_back(extractive, FallbackReason.GENERATOR_FAILED, error=error)
        check = check_grounding(
            generated, passages, max_chars=self._answer_max_chars, min_quoted_share=self._min_quoted_share
        )
        if check.failure is not None:
            return self._fall_back(extractive, check.failure, quoted_share=check.quoted_share)
        order = cited_order(check)
        mapping = {number: position for position, number in enumerate(order, start=1)}
        cited = [candidates[number - 1] for number in order]
        return Answer(
            answered=True,
            text=renumber_markers(generated.strip(), mapping),
            citations=self._citations(cited, composed, extractive.citations),
            confidence=extractive.confidence,
            source=SOURCE_GENERATIVE,
            resolved_question=extractive.resolved_question,
            signals={**extractive.signals, SIGNAL_USED: 1.0, SIGNAL_QUOTED_SHARE: check.quoted_share},
        )

    def _fall_back(
        self,
        extractive: Answer,
        reason: FallbackReason,
        *,
        error: Exception | None = None,
        quoted_share: float | None = None,
    ) -> Answer:
        extra: dict[str, object] = {"reason": reason.value}
        if error is not None:
            extra["error_type"] = type(error).__name__
            extra["error"] = str(error)
        if quoted_share is not None:
            extra["quoted_share"] = round(quoted_share, 3)
        logger.warning("answer.generation_fallback", extra=extra)
        return dataclasses.replace(extractive, signals={**extractive.signals, SIGNAL_FALLBACK: 1.0})

    def _citations(
        self, cited: Sequence[Candidate], composed: ComposedAnswer, extractive: Sequence[Citation]
    ) -> tuple[Citation, ...]:
        """One citation per cited passage in marker order, then the extractive ones of other documents."""
        citations = [cite(candidate, composed, snippet_chars=self._snippet_chars) for candidate in cited]
        cited_documents = {citation.document_id for citation in citations}
        for citation in extractive:
            if len(citations) >= max(self._citation_limit, len(cited)):
                break
            if citation.document_id not in cited_documents:
                cited_documents.add(citation.document_id)
                citations.append(citation)
        return tuple(citations)


__all__ = [
    "ABSTENTION_TOKEN",
    "FallbackReason",
    "GroundedGeneration",
    "GroundingCheck",
    "QuotedRuns",
    "as_passage",
    "check_grounding",
    "passage_candidates",
    "quoted_runs",
    "quoted_share",
    "renumber_markers",
]
