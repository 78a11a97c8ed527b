"""Answer-rate reports over the question and feedback records (no I/O).

The ministry's bar: an assistant answers at least 90% of the questions put to it. A unit's answer
rate is the share of its questions answered (not abstained) in a time window, with a per-day trend
(days in Vietnam time, UTC+7). Questions to work on are the unanswered ones and the answered ones
whose latest feedback says "not helpful"; they are grouped by similarity (Jaccard over
diacritic-folded content words) so staff see "12 people asked about lệ phí cấp phép" once. The
helpful rate is the share of rated answers (each question's latest verdict) rated helpful: staff's
word on answers, sparse and late, shown beside the answered rate, never instead of a tested rate.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

from services.gateway.domain.faq import FaqEntry
from trolyao.vietnamese import fold_diacritics

ANSWER_RATE_TARGET = 0.9
REPORT_TIMEZONE = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 366
TREND_THRESHOLD_POINTS = 1.0
SIMILARITY_THRESHOLD = 0.5
MAX_EXAMPLES_PER_GROUP = 5
MAX_GROUP_COMPARISONS = 50
PERCENT = 100.0

TREND_UP = "up"
TREND_DOWN = "down"
TREND_FLAT = "flat"
TREND_UNKNOWN = "unknown"

_WORD = re.compile(r"\w+")
# Function words that say nothing about the topic of a question (diacritics folded).
_STOPWORDS = frozenset(
    [
        "a",
        "ah",
        "ai",
        "bao",
        "cac",
        "cho",
        "co",
        "cua",
        "da",
        "de",
        "den",
        "do",
        "duoc",
        "gi",
        "hay",
        "hoi",
        "khi",
        "khong",
        "la",
        "lam",
        "lieu",
        "mot",
        "nao",
        "nay",
        "nhieu",
        "nhu",
        "nhung",
        "o",
        "oi",
        "ra",
        "roi",
        "sao",
        "se",
        "thi",
        "the",
        "toi",
        "trong",
        "va",
        "vay",
        "ve",
        "voi",
        "vui",
        "long",
        "xin",
        "cho",
        "biet",
        "em",
        "anh",
        "chi",
        "ban",
        "minh",
        "co",
        "the",
    ]
)


class InvalidWindow(ValueError):
    """A time window that is empty, reversed or too long."""


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """[since, until) in UTC."""

    since: datetime
    until: datetime

    def contains(self, moment: datetime) -> bool:
        """Whether `moment` falls inside the window."""
        return self.since <= moment < self.until


@dataclass(frozen=True, slots=True)
class QuestionRecord:
    """One question put to a unit's assistant and its outcome (from the QUESTIONS stream)."""

    question_id: str
    unit: str
    question: str
    answered: bool
    asked_at: datetime
    confidence: float = 0.0
    answer_source: str = ""


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """A person's verdict on one answer (from the FEEDBACK stream)."""

    question_id: str
    unit: str
    helpful: bool
    submitted_at: datetime
    comment: str = ""


def helpful_share(helpful: int, not_helpful: int) -> float | None:
    """helpful ÷ rated answers, or None when nothing was rated."""
    rated = helpful + not_helpful
    return helpful / rated if rated else None


class RatedAnswers:
    """The ratings of a report (its `helpful` and `not_helpful` counts) as a count and a rate."""

    __slots__ = ()
    helpful: int
    not_helpful: int

    @property
    def feedback_count(self) -> int:
        """Answers rated by staff (latest verdict per question)."""
        return self.helpful + self.not_helpful

    @property
    def helpful_rate(self) -> float | None:
        """Rated helpful ÷ rated, or None without ratings."""
        return helpful_share(self.helpful, self.not_helpful)


@dataclass(frozen=True, slots=True)
class DailyRate:
    """Questions and answers of one day (Vietnam time)."""

    day: date
    total: int
    answered: int

    @property
    def answer_rate(self) -> float | None:
        """answered / total, or None on a day without questions."""
        return self.answered / self.total if self.total else None


@dataclass(frozen=True, slots=True)
class AnswerRateReport(RatedAnswers):
    """A unit's answer rate over a window, its feedback counts and its daily trend."""

    unit: str
    window: TimeWindow
    total: int
    answered: int
    helpful: int
    not_helpful: int
    target: float
    daily: tuple[DailyRate, ...]
    trend: str
    change_points: float | None

    @property
    def answer_rate(self) -> float | None:
        """answered / total, or None without questions."""
        return self.answered / self.total if self.total else None

    @property
    def meets_target(self) -> bool | None:
        """Whether the answer rate reaches the target (None without questions)."""
        rate = self.answer_rate
        return None if rate is None else rate >= self.target


@dataclass(frozen=True, slots=True)
class ProblemQuestion:
    """A question that was not answered, or whose answer was rated not helpful."""

    question_id: str
    question: str
    asked_at: datetime
    unanswered: bool
    not_helpful: bool
    comment: str = ""


@dataclass(frozen=True, slots=True)
class QuestionGroup:
    """Similar problem questions: how many, which reasons, and a few examples (newest first)."""

    representative: str
    count: int
    unanswered: int
    not_helpful: int
    last_asked_at: datetime
    examples: tuple[ProblemQuestion, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class UnitAnswerRate(RatedAnswers):
    """One row of the ministry-wide table."""

    unit: str
    name: str
    total: int
    answered: int
    target: float
    helpful: int = 0
    not_helpful: int = 0

    @property
    def answer_rate(self) -> float | None:
        """answered / total, or None without questions."""
        return self.answered / self.total if self.total else None

    @property
    def meets_target(self) -> bool | None:
        """Whether the unit reaches the target (None without questions)."""
        rate = self.answer_rate
        return None if rate is None else rate >= self.target


@dataclass(frozen=True, slots=True)
class MinistryAnswerRates:
    """Every unit's answer rate against the target, worst first (units without questions last)."""

    window: TimeWindow
    target: float
    units: tuple[UnitAnswerRate, ...]

    @property
    def total(self) -> int:
        """Questions put to every unit."""
        return sum(row.total for row in self.units)

    @property
    def answered(self) -> int:
        """Questions answered across the ministry."""
        return sum(row.answered for row in self.units)

    @property
    def answer_rate(self) -> float | None:
        """The ministry's overall answer rate, or None without questions."""
        return self.answered / self.total if self.total else None

    def count(self, meets: bool | None) -> int:
        """Units that meet the target (True), miss it (False) or have no questions (None)."""
        return sum(1 for row in self.units if row.meets_target is meets)


def resolve_window(
    since: datetime | None,
    until: datetime | None,
    *,
    now: datetime,
    default_days: int = DEFAULT_WINDOW_DAYS,
    max_days: int = MAX_WINDOW_DAYS,
) -> TimeWindow:
    """The window asked for: defaults to the last `default_days` days up to now; naive times are UTC."""
    try:
        end = _as_utc(until) if until is not None else now
        start = _as_utc(since) if since is not None else end - timedelta(days=default_days)
    except OverflowError as error:
        raise InvalidWindow("the window falls outside the calendar") from error
    if start >= end:
        raise InvalidWindow("since must be before until")
    if end - start > timedelta(days=max_days):
        raise InvalidWindow(f"the window may span at most {max_days} days")
    return TimeWindow(since=start, until=end)


def latest_feedback(feedback: Iterable[FeedbackRecord]) -> dict[str, FeedbackRecord]:
    """Each question's most recent verdict (a person may change their mind)."""
    latest: dict[str, FeedbackRecord] = {}
    for record in feedback:
        known = latest.get(record.question_id)
        if known is None or record.submitted_at >= known.submitted_at:
            latest[record.question_id] = record
    return latest


def answer_rate_report(
    unit: str,
    questions: Iterable[QuestionRecord],
    feedback: Iterable[FeedbackRecord],
    window: TimeWindow,
    *,
    target: float = ANSWER_RATE_TARGET,
) -> AnswerRateReport:
    """The unit's answer rate over the window, with one entry per day (zero-filled)."""
    in_window = [q for q in questions if q.unit == unit and window.contains(q.asked_at)]
    asked = {q.question_id for q in in_window}
    verdicts = [
        f for f in latest_feedback(f for f in feedback if f.unit == unit).values() if f.question_id in asked
    ]
    per_day: dict[date, list[int]] = {day: [0, 0] for day in _days(window)}
    for record in in_window:
        counts = per_day.setdefault(_local_day(record.asked_at), [0, 0])
        counts[0] += 1
        counts[1] += int(record.answered)
    daily = tuple(DailyRate(day=day, total=c[0], answered=c[1]) for day, c in sorted(per_day.items()))
    trend, change = _trend(daily)
    return AnswerRateReport(
        unit=unit,
        window=window,
        total=len(in_window),
        answered=sum(1 for q in in_window if q.answered),
        helpful=sum(1 for f in verdicts if f.helpful),
        not_helpful=sum(1 for f in verdicts if not f.helpful),
        target=target,
        daily=daily,
        trend=trend,
        change_points=change,
    )


def problem_questions(
    questions: Iterable[QuestionRecord], feedback: Iterable[FeedbackRecord]
) -> list[ProblemQuestion]:
    """Unanswered questions, and answered ones whose latest feedback is "not helpful"."""
    verdicts = latest_feedback(feedback)
    problems = []
    for record in questions:
        verdict = verdicts.get(record.question_id)
        not_helpful = verdict is not None and verdict.unit == record.unit and not verdict.helpful
        if record.answered and not not_helpful:
            continue
        problems.append(
            ProblemQuestion(
                question_id=record.question_id,
                question=record.question,
                asked_at=record.asked_at,
                unanswered=not record.answered,
                not_helpful=not_helpful,
                comment=verdict.comment if verdict is not None and not_helpful else "",
            )
        )
    return problems


def content_tokens(text: str) -> frozenset[str]:
    """Diacritic-folded words of a question without function words (all words if nothing is left)."""
    words = _WORD.findall(fold_diacritics(text))
    content = frozenset(word for word in words if word not in _STOPWORDS)
    return content or frozenset(words)


def jaccard(left: frozenset[str], right: frozenset[str]) -> float:
    """|A ∩ B| / |A ∪ B| (1.0 for two empty sets)."""
    if not left and not right:
        return 1.0
    return len(left & right) / len(left | right)


def group_similar_questions(
    items: Sequence[ProblemQuestion],
    *,
    threshold: float = SIMILARITY_THRESHOLD,
    max_examples: int = MAX_EXAMPLES_PER_GROUP,
) -> list[QuestionGroup]:
    """Single-link clusters of questions whose folded content words overlap by `threshold` or more.

    Largest groups first; the representative is the most frequent wording in the group.
    """
    clusters: list[list[tuple[ProblemQuestion, frozenset[str]]]] = []
    for item in sorted(items, key=lambda q: q.asked_at):
        tokens = content_tokens(item.question)
        home = next(
            (
                cluster
                for cluster in clusters
                if any(jaccard(tokens, other) >= threshold for _, other in cluster[:MAX_GROUP_COMPARISONS])
            ),
            None,
        )
        if home is None:
            clusters.append([(item, tokens)])
        else:
            home.append((item, tokens))
    groups = [_group(cluster, max_examples) for cluster in clusters]
    return sorted(groups, key=lambda g: (-g.count, -g.last_asked_at.timestamp(), g.representative))


@dataclass(frozen=True, slots=True)
class KnowledgeGap:
    """A group of problem questions, and the FAQ entry that closed it (None while open)."""

    group: QuestionGroup
    closed_by_faq: str | None = None

    @property
    def closed(self) -> bool:
        return self.closed_by_faq is not None


def close_gaps_answered_by_faq(
    groups: Iterable[QuestionGroup], entries: Iterable[FaqEntry]
) -> list[KnowledgeGap]:
    """Mark each group closed by the FAQ entry that answers one of its wordings (main or alternative
    question, compared without diacritics, case or extra spaces), when that entry was saved after
    the group's last problem question: a gap asked again and still unanswered after its entry was
    written is open again (the entry did not reach it)."""
    answered: dict[str, list[FaqEntry]] = {}
    for entry in entries:
        for question in (entry.question, *entry.alternative_questions):
            answered.setdefault(_wording(question), []).append(entry)
    gaps = []
    for group in groups:
        wordings = {_wording(group.representative), *(_wording(e.question) for e in group.examples)}
        closing = [
            entry
            for wording in sorted(wordings)
            for entry in answered.get(wording, [])
            if _saved_after(entry, group.last_asked_at)
        ]
        gaps.append(KnowledgeGap(group=group, closed_by_faq=closing[0].faq_id if closing else None))
    return gaps


def _wording(question: str) -> str:
    return " ".join(fold_diacritics(question).split()).rstrip(" ?.!")


def _saved_after(entry: FaqEntry, moment: datetime) -> bool:
    """Whether `entry` was last written after `moment` (an entry without a readable time counts)."""
    stamp = entry.updated_at or entry.created_at
    try:
        saved = datetime.fromisoformat(stamp)
    except ValueError:
        return True
    if saved.tzinfo is None:
        saved = saved.replace(tzinfo=UTC)
    return saved >= moment


def ministry_answer_rates(
    units: Sequence[tuple[str, str]],
    questions: Iterable[QuestionRecord],
    window: TimeWindow,
    *,
    feedback: Iterable[FeedbackRecord] = (),
    target: float = ANSWER_RATE_TARGET,
) -> MinistryAnswerRates:
    """One row per (unit id, name), worst answer rate first; units without questions last. Ratings
    count for the questions asked in the window (each question's latest verdict, from its own unit)."""
    counts: dict[str, list[int]] = {unit: [0, 0] for unit, _ in units}
    asked: dict[str, str] = {}
    for record in questions:
        row = counts.get(record.unit)
        if row is None or not window.contains(record.asked_at):
            continue
        row[0] += 1
        row[1] += int(record.answered)
        asked[record.question_id] = record.unit
    ratings: dict[str, list[int]] = {unit: [0, 0] for unit, _ in units}
    for verdict in latest_feedback(feedback).values():
        if asked.get(verdict.question_id) == verdict.unit:
            ratings[verdict.unit][0 if verdict.helpful else 1] += 1
    rows = [
        UnitAnswerRate(
            unit=unit,
            name=name,
            total=counts[unit][0],
            answered=counts[unit][1],
            target=target,
            helpful=ratings[unit][0],
            not_helpful=ratings[unit][1],
        )
        for unit, name in units
    ]
    rows.sort(key=lambda r: (r.answer_rate is None, r.answer_rate or 0.0, r.unit))
    return MinistryAnswerRates(window=window, target=target, units=tuple(rows))


def _group(cluster: list[tuple[ProblemQuestion, frozenset[str]]], max_examples: int) -> QuestionGroup:
    members = [item for item, _ in cluster]
    wordings = Counter(" ".join(fold_diacritics(m.question).split()) for m in members)
    top = wordings.most_common(1)[0][0]
    representative = next(m.question for m in members if " ".join(fold_diacritics(m.question).split()) == top)
    newest = sorted(members, key=lambda m: m.asked_at, reverse=True)
    return QuestionGroup(
        representative=representative.strip(),
        count=len(members),
        unanswered=sum(1 for m in members if m.unanswered),
        not_helpful=sum(1 for m in members if m.not_helpful),
        last_asked_at=newest[0].asked_at,
        examples=tuple(newest[:max_examples]),
    )


def _trend(daily: Sequence[DailyRate]) -> tuple[str, float | None]:
    """Second half of the window against the first: change in percentage points and its direction."""
    half = len(daily) // 2
    first, second = _rate(daily[:half]), _rate(daily[half:])
    if first is None or second is None:
        return TREND_UNKNOWN, None
    change = round((second - first) * PERCENT, 1)
    if change > TREND_THRESHOLD_POINTS:
        return TREND_UP, change
    if change < -TREND_THRESHOLD_POINTS:
        return TREND_DOWN, change
    return TREND_FLAT, change


def _rate(days: Sequence[DailyRate]) -> float | None:
    total = sum(d.total for d in days)
    return sum(d.answered for d in days) / total if total else None


def _days(window: TimeWindow) -> list[date]:
    first, last = _local_day(window.since), _local_day(window.until - timedelta(microseconds=1))
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def _local_day(moment: datetime) -> date:
    return moment.astimezone(REPORT_TIMEZONE).date()


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


__all__ = [
    "ANSWER_RATE_TARGET",
    "REPORT_TIMEZONE",
    "AnswerRateReport",
    "DailyRate",
    "FeedbackRecord",
    "InvalidWindow",
    "KnowledgeGap",
    "MinistryAnswerRates",
    "ProblemQuestion",
    "QuestionGroup",
    "QuestionRecord",
    "RatedAnswers",
    "TimeWindow",
    "UnitAnswerRate",
    "answer_rate_report",
    "close_gaps_answered_by_faq",
    "content_tokens",
    "group_similar_questions",
    "helpful_share",
    "jaccard",
    "latest_feedback",
    "ministry_answer_rates",
    "problem_questions",
    "resolve_window",
]
