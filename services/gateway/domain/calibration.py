"""A unit's abstention threshold, calibrated from staff feedback (no I/O).

The assistant abstains when its confidence in a composed answer is below a threshold. One global
threshold cannot serve every unit: on one corpus 90% of top answers are right, on another 28%.
Given the rated answers of a unit — (confidence, helpful) pairs — `suggest_threshold` walks a
grid of thresholds and, for each, counts the answers that would still be given and how many of
them were rated not helpful. The suggestion is the lowest threshold (the most answers) whose
wrong rate is below the target with 95% confidence (Wilson score upper bound), so that a handful
of lucky ratings does not pass for a safe threshold.

Answers below the threshold in force were never shown, so never rated: the samples only say
something about thresholds at or above the one in force, and a suggestion below it is a guess.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.gateway.domain.reports import FeedbackRecord, QuestionRecord, latest_feedback

WILSON_Z_95 = 1.959963984540054
DEFAULT_TARGET_WRONG_RATE = 0.05
DEFAULT_MIN_RATED = 30
# Below this many answered samples a threshold's wrong rate says too little to be suggested.
MIN_ANSWERED_FLOOR = 10
ANSWERED_SHARE_OF_MIN_RATED = 3
GRID_STEP = 0.05
DEFAULT_GRID: tuple[float, ...] = tuple(round(GRID_STEP * i, 2) for i in range(1, 20))

REASON_OK = "ok"
REASON_TOO_FEW_RATINGS = "too_few_ratings"
REASON_TARGET_UNREACHABLE = "target_unreachable"
# Curated FAQ answers are matched by similarity, not gated by the threshold: they say nothing about it.
FAQ_SOURCE = "faq"


@dataclass(frozen=True, slots=True)
class ThresholdRow:
    """What one threshold would have done to the rated answers."""

    threshold: float
    # Rated answers with confidence ≥ threshold (those still given) ...
    answered: int
    # ... and how many of them were rated not helpful.
    wrong: int
    wrong_rate: float
    # Wilson 95% upper bound of the wrong rate (1.0 when nothing is answered).
    wrong_rate_upper: float


@dataclass(frozen=True, slots=True)
class Calibration:
    """The suggested threshold (None when the ratings cannot support one) and the whole table."""

    suggested: float | None
    rated: int
    rows: tuple[ThresholdRow, ...]
    # "ok", "too_few_ratings" or "target_unreachable".
    reason: str


def wilson_upper(wrong: int, total: int, *, z: float = WILSON_Z_95) -> float:
    """Upper end of the Wilson score interval of `wrong / total` (1.0 without samples)."""
    if total <= 0:
        return 1.0
    rate = wrong / total
    z2 = z * z
    centre = rate + z2 / (2 * total)
    spread = z * math.sqrt(rate * (1 - rate) / total + z2 / (4 * total * total))
    return min(1.0, (centre + spread) / (1 + z2 / total))


def suggest_threshold(
    samples: Iterable[tuple[float, bool]],
    *,
    target_wrong_rate: float = DEFAULT_TARGET_WRONG_RATE,
    min_rated: int = DEFAULT_MIN_RATED,
    grid: Sequence[float] = DEFAULT_GRID,
) -> Calibration:
    """The smallest grid threshold whose answers are wrong at most `target_wrong_rate` of the time.

    `samples` are (confidence, helpful) of rated answers. A threshold qualifies when the Wilson 95%
    upper bound of its wrong rate is ≤ the target and it keeps at least max(min_rated // 3, 10)
    answered samples. With fewer than `min_rated` samples nothing is suggested
    ("too_few_ratings"); when no threshold qualifies, neither ("target_unreachable"). The table
    (one row per threshold, ascending) is returned either way.
    """
    rated = [(float(confidence), bool(helpful)) for confidence, helpful in samples]
    min_answered = max(min_rated // ANSWERED_SHARE_OF_MIN_RATED, MIN_ANSWERED_FLOOR)
    rows: list[ThresholdRow] = []
    for threshold in sorted(grid):
        kept = [helpful for confidence, helpful in rated if confidence >= threshold]
        wrong = sum(1 for helpful in kept if not helpful)
        rows.append(
            ThresholdRow(
                threshold=threshold,
                answered=len(kept),
                wrong=wrong,
                wrong_rate=wrong / len(kept) if kept else 0.0,
                wrong_rate_upper=wilson_upper(wrong, len(kept)),
            )
        )
    if len(rated) < min_rated:
        return Calibration(suggested=None, rated=len(rated), rows=tuple(rows), reason=REASON_TOO_FEW_RATINGS)
    suggested = next(
        (
            row.threshold
            for row in rows
            if row.answered >= min_answered and row.wrong_rate_upper <= target_wrong_rate
        ),
        None,
    )
    reason = REASON_OK if suggested is not None else REASON_TARGET_UNREACHABLE
    return Calibration(suggested=suggested, rated=len(rated), rows=tuple(rows), reason=reason)


def rated_answers(
    questions: Iterable[QuestionRecord], feedback: Iterable[FeedbackRecord]
) -> list[tuple[float, bool]]:
    """(confidence, helpful) of the answers the threshold governed and a person rated.

    Abstentions and FAQ answers are left out; a question rated twice counts with its latest verdict.
    """
    verdicts = latest_feedback(feedback)
    return [
        (question.confidence, verdicts[question.question_id].helpful)
        for question in questions
        if question.answered and question.answer_source != FAQ_SOURCE and question.question_id in verdicts
    ]
