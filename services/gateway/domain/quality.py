"""A unit's test questions and how a run judges its assistant against them (no I/O).

A test question says what counts as right: an expected text the answer must contain (compared
after Unicode NFC, case folding and white-space folding; optionally diacritic-insensitive), a
document (optionally its Điều/Khoản) the answer must cite, or "must refuse" for a question the
unit's knowledge should not answer. A run judges every question and counts the unit's tested
correct rate: right answers ÷ answerable questions (must-refuse ones are counted apart), wrong,
too long and refused answers all being failures. A question right in the previous run and not
right now is a regression, shown with the knowledge changes between the two runs.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from trolyao.vietnamese import fold_diacritics

TEST_QUESTION_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
_TEST_QUESTION_ID = re.compile(TEST_QUESTION_ID_PATTERN)
MAX_QUESTION_CHARS = 2000
MAX_EXPECTED_CHARS = 1000
MAX_DOCUMENT_ID_CHARS = 200
MAX_SECTION_CHARS = 100
# "A person wants the sentence": an answer longer than this that merely contains the expected
# text is not counted as right.
MAX_RIGHT_ANSWER_CHARS = 400
GENERATED_ID_PREFIX = "q-"
GENERATED_ID_HEX = 12
_WHITE_SPACE = re.compile(r"\s+")


class Verdict(StrEnum):
    RIGHT = "right"
    WRONG = "wrong"
    REFUSED = "refused"
    TOO_LONG = "too_long"


class RunTrigger(StrEnum):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    CHANGE = "change"


class RunStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class InvalidTestQuestion(ValueError):
    """A test question that cannot be judged; the message is Vietnamese, for people."""


@dataclass(frozen=True, slots=True)
class TestQuestion:
    """One question of a unit's test set and what counts as a right answer to it."""

    question_id: str
    question: str
    expected_answer: str = ""
    expected_document_id: str = ""
    expected_section: str = ""
    must_refuse: bool = False
    ignore_diacritics: bool = False
    created_at: str = ""
    updated_at: str = ""


def is_valid_test_question_id(question_id: str) -> bool:
    """Lower-case letters, digits and hyphens (the id is part of URLs and sheet rows)."""
    return bool(_TEST_QUESTION_ID.match(question_id))


def generated_question_id(question: str) -> str:
    """A stable id for a question imported without one: re-importing the sheet updates, not doubles."""
    digest = hashlib.sha256(normalise_for_match(question, ignore_diacritics=True).encode()).hexdigest()
    return GENERATED_ID_PREFIX + digest[:GENERATED_ID_HEX]


def validate_test_question(item: TestQuestion) -> TestQuestion:
    """The question with its texts trimmed, or InvalidTestQuestion saying what is wrong."""
    item = TestQuestion(
        question_id=item.question_id,
        question=item.question.strip(),
        expected_answer=item.expected_answer.strip(),
        expected_document_id=item.expected_document_id.strip(),
        expected_section=item.expected_section.strip(),
        must_refuse=item.must_refuse,
        ignore_diacritics=item.ignore_diacritics,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )
    if not is_valid_test_question_id(item.question_id):
        raise InvalidTestQuestion("Mã câu hỏi chỉ gồm chữ thường không dấu, chữ số và dấu gạch ngang.")
    if not item.question:
        raise InvalidTestQuestion("Thiếu nội dung câu hỏi.")
    if len(item.question) > MAX_QUESTION_CHARS:
        raise InvalidTestQuestion(f"Câu hỏi dài quá {MAX_QUESTION_CHARS} ký tự.")
    if len(item.expected_answer) > MAX_EXPECTED_CHARS:
        raise InvalidTestQuestion(f"Đáp án mong đợi dài quá {MAX_EXPECTED_CHARS} ký tự.")
    if len(item.expected_document_id) > MAX_DOCUMENT_ID_CHARS:
        raise InvalidTestQuestion(f"Mã văn bản dài quá {MAX_DOCUMENT_ID_CHARS} ký tự.")
    if len(item.expected_section) > MAX_SECTION_CHARS:
        raise InvalidTestQuestion(f"Điều/khoản dài quá {MAX_SECTION_CHARS} ký tự.")
    if item.expected_section and not item.expected_document_id:
        raise InvalidTestQuestion("Điều/khoản mong đợi cần đi kèm mã văn bản mong đợi.")
    if item.must_refuse and (item.expected_answer or item.expected_document_id):
        raise InvalidTestQuestion(
            "Câu hỏi phải từ chối không có đáp án hay văn bản mong đợi; hãy bỏ một trong hai."
        )
    if not (item.must_refuse or item.expected_answer or item.expected_document_id):
        raise InvalidTestQuestion(
            "Cần ít nhất một tiêu chí: đáp án mong đợi, văn bản phải trích dẫn, hoặc phải từ chối."
        )
    return item


def normalise_for_match(text: str, *, ignore_diacritics: bool = False) -> str:
    """NFC, case-folded, white space folded to single spaces; diacritics removed when asked."""
    text = unicodedata.normalize("NFC", text).casefold()
    if ignore_diacritics:
        text = fold_diacritics(text)
    return _WHITE_SPACE.sub(" ", text).strip()


@dataclass(frozen=True, slots=True)
class CitedSource:
    """What a judged answer cited (the passage itself is not kept)."""

    document_id: str
    title: str = ""
    path: str = ""


@dataclass(frozen=True, slots=True)
class AssistantReply:
    """The assistant's answer to a test question, as the judge sees it."""

    answered: bool
    text: str
    confidence: float
    citations: tuple[CitedSource, ...] = ()


@dataclass(frozen=True, slots=True)
class QuestionResult:
    """One question of a run: what the assistant said and the verdict on it."""

    question_id: str
    question: str
    must_refuse: bool
    verdict: Verdict
    reason: str
    answered: bool
    answer: str
    confidence: float
    citations: tuple[CitedSource, ...] = ()


def _cites(reply: AssistantReply, document_id: str, section: str) -> bool:
    wanted_section = normalise_for_match(section)
    for citation in reply.citations:
        if citation.document_id != document_id:
            continue
        if not wanted_section or wanted_section in normalise_for_match(citation.path):
            return True
    return False


def judge(item: TestQuestion, reply: AssistantReply) -> QuestionResult:
    """The verdict on one reply, with its reason in Vietnamese."""

    def result(verdict: Verdict, reason: str) -> QuestionResult:
        return QuestionResult(
            question_id=item.question_id,
            question=item.question,
            must_refuse=item.must_refuse,
            verdict=verdict,
            reason=reason,
            answered=reply.answered,
            answer=reply.text if reply.answered else "",
            confidence=reply.confidence,
            citations=reply.citations if reply.answered else (),
        )

    if item.must_refuse:
        if reply.answered:
            return result(Verdict.WRONG, "Trợ lý đã trả lời câu hỏi lẽ ra phải từ chối.")
        return result(Verdict.RIGHT, "Trợ lý từ chối đúng như mong đợi.")
    if not reply.answered:
        return result(Verdict.REFUSED, "Trợ lý từ chối trả lời câu hỏi có đáp án trong tri thức.")
    if item.expected_document_id and not _cites(reply, item.expected_document_id, item.expected_section):
        where = item.expected_document_id
        if item.expected_section:
            where += f" ({item.expected_section})"
        return result(Verdict.WRONG, f"Câu trả lời không trích dẫn văn bản mong đợi {where}.")
    if item.expected_answer:
        expected = normalise_for_match(item.expected_answer, ignore_diacritics=item.ignore_diacritics)
        actual = normalise_for_match(reply.text, ignore_diacritics=item.ignore_diacritics)
        if expected not in actual:
            return result(Verdict.WRONG, f"Câu trả lời không chứa đáp án mong đợi «{item.expected_answer}».")
        if len(reply.text) > MAX_RIGHT_ANSWER_CHARS:
            return result(
                Verdict.TOO_LONG,
                f"Câu trả lời dài {len(reply.text)} ký tự (quá {MAX_RIGHT_ANSWER_CHARS}): có đáp án "
                "nhưng người hỏi cần một câu trả lời ngắn.",
            )
    return result(Verdict.RIGHT, "Câu trả lời đúng như mong đợi.")


@dataclass(frozen=True, slots=True)
class RunCounts:
    """A run's tally. `correct + wrong + refused == answerable`; `too_long` is part of `wrong`."""

    answerable: int
    correct: int
    wrong: int
    refused: int
    too_long: int
    must_refuse: int
    must_refuse_right: int

    @property
    def correct_rate(self) -> float | None:
        """Right answers ÷ answerable questions; None when there is none to answer."""
        return self.correct / self.answerable if self.answerable else None


def count_results(results: Iterable[QuestionResult]) -> RunCounts:
    """Tally a run's verdicts."""
    answerable = correct = wrong = refused = too_long = must_refuse = must_refuse_right = 0
    for item in results:
        if item.must_refuse:
            must_refuse += 1
            must_refuse_right += item.verdict is Verdict.RIGHT
            continue
        answerable += 1
        correct += item.verdict is Verdict.RIGHT
        refused += item.verdict is Verdict.REFUSED
        wrong += item.verdict in (Verdict.WRONG, Verdict.TOO_LONG)
        too_long += item.verdict is Verdict.TOO_LONG
    return RunCounts(
        answerable=answerable,
        correct=correct,
        wrong=wrong,
        refused=refused,
        too_long=too_long,
        must_refuse=must_refuse,
        must_refuse_right=must_refuse_right,
    )


@dataclass(frozen=True, slots=True)
class KnowledgeChange:
    """A document of the unit that changed between two runs (its version now, and how)."""

    document_id: str
    version: int
    status: str  # indexed | deleted
    updated_at: str = ""


@dataclass(frozen=True, slots=True)
class Regression:
    """A question right in the previous run and not right in this one, with the likely causes."""

    question_id: str
    question: str
    previous_verdict: Verdict
    verdict: Verdict
    reason: str
    previous_run_id: str
    changes: tuple[KnowledgeChange, ...] = field(default_factory=tuple)


def find_regressions(
    previous: Sequence[QuestionResult],
    current: Sequence[QuestionResult],
    *,
    previous_run_id: str,
    changes: Sequence[KnowledgeChange],
) -> list[Regression]:
    """Questions right before and not right now. Each lists the changes between the runs, those to
    documents either answer cited first (the likeliest cause)."""
    before = {item.question_id: item for item in previous}
    regressions = []
    for item in current:
        earlier = before.get(item.question_id)
        if earlier is None or earlier.verdict is not Verdict.RIGHT or item.verdict is Verdict.RIGHT:
            continue
        cited = {c.document_id for c in (*earlier.citations, *item.citations)}
        ordered = sorted(changes, key=lambda change: (change.document_id not in cited, change.document_id))
        regressions.append(
            Regression(
                question_id=item.question_id,
                question=item.question,
                previous_verdict=earlier.verdict,
                verdict=item.verdict,
                reason=item.reason,
                previous_run_id=previous_run_id,
                changes=tuple(ordered),
            )
        )
    return regressions


@dataclass(frozen=True, slots=True)
class PendingChanges:
    """Knowledge changes of a unit waiting for their test run (debounced), and who claimed the run."""

    unit: str
    first_at: float
    last_at: float
    count: int
    # "change" when any knowledge changed; "schedule" when only the schedule asked for the run.
    trigger: str = RunTrigger.CHANGE.value
    claimed_by: str = ""
    claimed_until: float = 0.0

    def with_change(self, now: float, trigger: RunTrigger) -> PendingChanges:
        return PendingChanges(
            unit=self.unit,
            first_at=self.first_at,
            last_at=max(self.last_at, now),
            count=self.count + 1,
            trigger=RunTrigger.CHANGE.value
            if RunTrigger.CHANGE in (trigger, self.trigger)
            else trigger.value,
            claimed_by=self.claimed_by,
            claimed_until=self.claimed_until,
        )

    def is_due(self, now: float, *, quiet_seconds: float, max_wait_seconds: float) -> bool:
        """Due when changes stopped for `quiet_seconds`, or have waited `max_wait_seconds` (a steady
        stream of changes still gets a run now and then); never while a live claim holds it."""
        if self.claimed_by and self.claimed_until > now:
            return False
        return now - self.last_at >= quiet_seconds or now - self.first_at >= max_wait_seconds


@dataclass(frozen=True, slots=True)
class TestRun:
    """One run of a unit's test questions: what triggered it, every verdict, what regressed."""

    run_id: str
    unit: str
    trigger: RunTrigger
    status: RunStatus
    started_at: str
    finished_at: str = ""
    question_count: int = 0
    results: tuple[QuestionResult, ...] = ()
    regressions: tuple[Regression, ...] = ()
    changes: tuple[KnowledgeChange, ...] = ()
    previous_run_id: str = ""
    reason: str = ""

    @property
    def counts(self) -> RunCounts:
        return count_results(self.results)


class TestQuestionStore(Protocol):
    """A unit's test questions (one JetStream KV record per unit in production)."""

    async def in_unit(self, unit: str) -> list[TestQuestion]:
        """Every question of the unit, by id."""
        ...

    async def get(self, unit: str, question_id: str) -> TestQuestion | None:
        """The question, or None."""
        ...

    async def put_many(self, unit: str, items: Sequence[TestQuestion]) -> list[bool]:
        """Create or replace the questions in one atomic write; for each, True when it was new."""
        ...

    async def delete(self, unit: str, question_id: str) -> bool:
        """Forget the question; False when there was none."""
        ...

    async def delete_unit(self, unit: str) -> None:
        """Forget every question of the unit."""
        ...

    async def counts(self) -> dict[str, int]:
        """How many test questions each unit has (units without any are absent)."""
        ...


__all__ = [
    "MAX_RIGHT_ANSWER_CHARS",
    "TEST_QUESTION_ID_PATTERN",
    "AssistantReply",
    "CitedSource",
    "InvalidTestQuestion",
    "KnowledgeChange",
    "PendingChanges",
    "QuestionResult",
    "Regression",
    "RunCounts",
    "RunStatus",
    "RunTrigger",
    "TestQuestion",
    "TestQuestionStore",
    "TestRun",
    "Verdict",
    "count_results",
    "find_regressions",
    "generated_question_id",
    "is_valid_test_question_id",
    "judge",
    "normalise_for_match",
    "validate_test_question",
]
