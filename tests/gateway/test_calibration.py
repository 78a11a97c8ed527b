"""Calibrating a unit's abstention threshold from rated answers (pure functions, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.domain.calibration import (
    DEFAULT_GRID,
    REASON_OK,
    REASON_TARGET_UNREACHABLE,
    REASON_TOO_FEW_RATINGS,
    rated_answers,
    suggest_threshold,
    wilson_upper,
)
from services.gateway.domain.reports import FeedbackRecord, QuestionRecord

pytestmark = pytest.mark.timeout(60)

AT = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def corpus(*groups: tuple[float, int, int]) -> list[tuple[float, bool]]:
    """(confidence, how many helpful, how many not helpful) groups as samples."""
    samples: list[tuple[float, bool]] = []
    for confidence, helpful, not_helpful in groups:
        samples += [(confidence, True)] * helpful + [(confidence, False)] * not_helpful
    return samples


def test_default_grid_is_005_to_095() -> None:
    assert DEFAULT_GRID[0] == 0.05 and DEFAULT_GRID[-1] == 0.95 and len(DEFAULT_GRID) == 19


def test_wilson_upper_bound_known_values() -> None:
    assert wilson_upper(0, 0) == 1.0
    # 0 of n: z² / (n + z²)
    assert wilson_upper(0, 10) == pytest.approx(3.8415 / 13.8415, abs=1e-4)
    assert wilson_upper(5, 10) == pytest.approx(0.7634, abs=1e-4)
    assert wilson_upper(10, 10) == pytest.approx(1.0)
    assert wilson_upper(1, 100) > 0.01


def test_rows_count_answers_at_or_above_each_threshold() -> None:
    samples = corpus((0.3, 2, 8), (0.6, 5, 1), (0.9, 4, 0))
    result = suggest_threshold(samples, grid=(0.3, 0.5, 0.6, 0.95), min_rated=1)
    rows = {row.threshold: row for row in result.rows}
    assert [row.threshold for row in result.rows] == [0.3, 0.5, 0.6, 0.95]
    assert (rows[0.3].answered, rows[0.3].wrong) == (20, 9)
    assert (rows[0.5].answered, rows[0.5].wrong) == (10, 1)
    assert rows[0.6] == rows[0.6].__class__(0.6, 10, 1, 0.1, wilson_upper(1, 10))
    assert (rows[0.95].answered, rows[0.95].wrong, rows[0.95].wrong_rate) == (0, 0, 0.0)
    assert rows[0.95].wrong_rate_upper == 1.0
    assert result.rated == 20


def test_suggests_the_lowest_threshold_that_meets_the_target() -> None:
    # Low-confidence answers are mostly wrong, high-confidence ones always right.
    samples = corpus((0.2, 10, 30), (0.45, 10, 10), (0.7, 120, 0), (0.85, 80, 0))
    result = suggest_threshold(samples)
    assert result.reason == REASON_OK
    assert result.suggested == 0.5
    chosen = next(row for row in result.rows if row.threshold == result.suggested)
    assert chosen.answered == 200 and chosen.wrong == 0 and chosen.wrong_rate_upper <= 0.05
    assert all(row.wrong_rate_upper > 0.05 for row in result.rows if row.threshold < 0.5)


def test_a_good_corpus_gets_a_low_threshold_and_a_poor_one_a_high_one() -> None:
    good = corpus((0.15, 200, 2), (0.6, 100, 0))
    poor = corpus((0.15, 28, 72), (0.6, 20, 20), (0.92, 150, 0))
    assert suggest_threshold(good, target_wrong_rate=0.1).suggested == 0.05
    assert suggest_threshold(poor, target_wrong_rate=0.1).suggested == 0.65


def test_too_few_ratings_suggests_nothing_but_still_shows_the_table() -> None:
    result = suggest_threshold(corpus((0.9, 29, 0)))
    assert result.suggested is None and result.reason == REASON_TOO_FEW_RATINGS
    assert result.rated == 29 and len(result.rows) == len(DEFAULT_GRID)
    assert suggest_threshold([]).reason == REASON_TOO_FEW_RATINGS


def test_target_unreachable_when_even_the_top_answers_are_wrong_too_often() -> None:
    result = suggest_threshold(corpus((0.5, 20, 10), (0.95, 30, 5)))
    assert result.suggested is None and result.reason == REASON_TARGET_UNREACHABLE


def test_a_perfect_but_tiny_top_slice_is_not_enough() -> None:
    # 9 flawless answers at 0.9 are fewer than the 10 a threshold must keep; everything below is poor.
    samples = corpus((0.3, 10, 20), (0.9, 9, 0))
    assert suggest_threshold(samples, target_wrong_rate=0.5).reason == REASON_TARGET_UNREACHABLE
    # A larger min_rated demands more kept answers (min_rated // 3).
    many = corpus((0.3, 0, 30), (0.9, 20, 0))
    assert suggest_threshold(many, target_wrong_rate=0.2, min_rated=30).suggested == 0.35
    assert suggest_threshold(many, target_wrong_rate=0.2, min_rated=90).reason == REASON_TOO_FEW_RATINGS
    assert suggest_threshold(many * 2, target_wrong_rate=0.2, min_rated=90).suggested == 0.35
    assert suggest_threshold(many, target_wrong_rate=0.2, min_rated=45).suggested == 0.35
    assert suggest_threshold(
        corpus((0.3, 0, 40), (0.9, 14, 0)), target_wrong_rate=0.3, min_rated=45
    ).reason == (REASON_TARGET_UNREACHABLE)


def test_custom_grid_is_used_in_ascending_order() -> None:
    samples = corpus((0.55, 0, 40), (0.8, 100, 0))
    result = suggest_threshold(samples, grid=(0.9, 0.6, 0.7))
    assert [row.threshold for row in result.rows] == [0.6, 0.7, 0.9]
    assert result.suggested == 0.6


@given(
    st.lists(st.tuples(st.floats(min_value=0.0, max_value=1.0), st.booleans()), max_size=200),
    st.floats(min_value=0.01, max_value=0.5),
)
def test_the_suggestion_is_the_first_row_that_qualifies(
    samples: list[tuple[float, bool]], target: float
) -> None:
    result = suggest_threshold(samples, target_wrong_rate=target)
    answered = [row.answered for row in result.rows]
    assert answered == sorted(answered, reverse=True)
    assert all(0.0 <= row.wrong_rate <= row.wrong_rate_upper + 1e-9 <= 1.0 + 1e-9 for row in result.rows)
    qualifying = [r.threshold for r in result.rows if r.answered >= 10 and r.wrong_rate_upper <= target]
    if len(samples) < 30:
        assert result.suggested is None and result.reason == REASON_TOO_FEW_RATINGS
    elif qualifying:
        assert result.suggested == qualifying[0] and result.reason == REASON_OK
    else:
        assert result.suggested is None and result.reason == REASON_TARGET_UNREACHABLE


def test_rated_answers_takes_governed_answers_with_their_latest_verdict() -> None:
    def question(question_id: str, *, answered: bool = True, source: str = "extractive") -> QuestionRecord:
        return QuestionRecord(
            question_id=question_id,
            unit="u",
            question="?",
            answered=answered,
            asked_at=AT,
            confidence=0.7,
            answer_source=source,
        )

    def verdict(question_id: str, helpful: bool, minute: int = 0) -> FeedbackRecord:
        return FeedbackRecord(
            question_id=question_id, unit="u", helpful=helpful, submitted_at=AT.replace(minute=minute)
        )

    questions = [
        question("rated"),
        question("changed-mind", source="generative"),
        question("unrated"),
        question("abstained", answered=False, source="none"),
        question("faq", source="faq"),
    ]
    feedback = [
        verdict("rated", True),
        verdict("changed-mind", True, minute=1),
        verdict("changed-mind", False, minute=2),
        verdict("abstained", False),
        verdict("faq", False),
    ]
    assert rated_answers(questions, feedback) == [(0.7, True), (0.7, False)]
