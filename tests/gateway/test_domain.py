"""The gateway's domain logic, without I/O: reports, similarity groups, rate limits, transcripts,
conversations and the FAQ sheet (read back by ingest's own parser)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest

from services.gateway.adapters.faq_workbook import faq_workbook
from services.gateway.domain.chat import ChatMessage, EmptyTranscript, answer_pieces, question_and_history
from services.gateway.domain.conversations import Conversation, Turn, conversation_key
from services.gateway.domain.faq import FaqEntry
from services.gateway.domain.rate_limit import (
    CounterUnavailable,
    RateLimiter,
    RateWindow,
    SharedRateLimiter,
    credential_key,
    retry_after_header,
)
from services.gateway.domain.reports import (
    FeedbackRecord,
    InvalidWindow,
    QuestionRecord,
    TimeWindow,
    answer_rate_report,
    close_gaps_answered_by_faq,
    content_tokens,
    group_similar_questions,
    jaccard,
    ministry_answer_rates,
    problem_questions,
    resolve_window,
)
from services.ingest.adapters.parsers import XlsxParser
from services.ingest.domain.model import IngestLimits

pytestmark = pytest.mark.timeout(30)

START = datetime(2026, 11, 1, tzinfo=UTC)  # 07:00 on 1 Nov in Vietnam
WINDOW = TimeWindow(since=START, until=START + timedelta(days=4))


def question(qid: str, text: str, *, answered: bool, day: int = 0, unit: str = "a") -> QuestionRecord:
    return QuestionRecord(
        question_id=qid,
        unit=unit,
        question=text,
        answered=answered,
        asked_at=START + timedelta(days=day, hours=1),
    )


def test_answer_rate_counts_the_window_per_vietnamese_day_and_finds_the_trend() -> None:
    questions = [
        question("1", "q", answered=False, day=0),
        question("2", "q", answered=False, day=0),
        question("3", "q", answered=True, day=1),
        question("4", "q", answered=True, day=2),
        question("5", "q", answered=True, day=3),
        question("6", "q", answered=True, day=3),
        question("7", "q", answered=True, day=9),  # outside the window
        question("8", "q", answered=True, day=1, unit="b"),  # another unit
    ]
    feedback = [
        FeedbackRecord("3", "a", helpful=False, submitted_at=START + timedelta(days=2)),
        FeedbackRecord("3", "a", helpful=True, submitted_at=START + timedelta(days=3)),  # changed mind
        FeedbackRecord("4", "a", helpful=False, submitted_at=START + timedelta(days=3)),
    ]
    report = answer_rate_report("a", questions, feedback, WINDOW)
    assert (report.total, report.answered) == (6, 4)
    assert report.answer_rate == pytest.approx(4 / 6)
    assert report.meets_target is False
    assert (report.helpful, report.not_helpful) == (1, 1)
    assert (report.feedback_count, report.helpful_rate) == (2, 0.5)
    assert [d.day for d in report.daily] == [date(2026, 11, day) for day in (1, 2, 3, 4, 5)]
    assert [d.total for d in report.daily] == [2, 1, 1, 2, 0]
    assert report.trend == "up" and report.change_points is not None and report.change_points > 0


def test_a_unit_without_questions_has_no_rate_and_an_unknown_trend() -> None:
    report = answer_rate_report("a", [], [], WINDOW)
    assert report.answer_rate is None and report.meets_target is None and report.trend == "unknown"
    assert (report.feedback_count, report.helpful_rate) == (0, None)


def test_windows_default_to_thirty_days_and_refuse_nonsense() -> None:
    now = datetime(2026, 11, 27, tzinfo=UTC)
    assert resolve_window(None, None, now=now) == TimeWindow(since=now - timedelta(days=30), until=now)
    assert resolve_window(datetime(2026, 11, 1), None, now=now).since.tzinfo is not None
    with pytest.raises(InvalidWindow):
        resolve_window(now, now - timedelta(days=1), now=now)
    with pytest.raises(InvalidWindow):
        resolve_window(now - timedelta(days=400), now, now=now)
    with pytest.raises(InvalidWindow):
        resolve_window(None, datetime(1, 1, 1, tzinfo=UTC), now=now)


def test_similar_questions_group_across_diacritics_and_phrasing() -> None:
    items = problem_questions(
        [
            question("1", "Lệ phí cấp giấy phép báo điện tử là bao nhiêu?", answered=False),
            question("2", "le phi cap giay phep bao dien tu", answered=False, day=1),
            question("3", "Cho tôi hỏi lệ phí cấp giấy phép báo điện tử?", answered=False, day=2),
            question("4", "Thủ tục đăng ký kết hôn gồm những gì?", answered=False),
            question("5", "Giờ làm việc của bộ phận một cửa?", answered=True),
            question("6", "Giờ tiếp dân của bộ phận một cửa?", answered=True),
        ],
        [FeedbackRecord("6", "a", helpful=False, submitted_at=START, comment="Sai giờ")],
    )
    assert {item.question_id for item in items} == {"1", "2", "3", "4", "6"}
    groups = group_similar_questions(items)
    assert [group.count for group in groups] == [3, 1, 1]
    fee = groups[0]
    assert fee.unanswered == 3 and fee.examples[0].question_id == "3"
    rated = next(group for group in groups if group.not_helpful)
    assert rated.examples[0].comment == "Sai giờ"
    assert content_tokens("Cho tôi hỏi lệ phí là bao nhiêu?") == frozenset({"le", "phi"})
    assert jaccard(frozenset(), frozenset()) == 1.0


def test_ministry_table_lists_every_unit_worst_first() -> None:
    units = [("a", "Cục A"), ("b", "Cục B"), ("c", "Cục C")]
    questions = [question(str(i), "q", answered=i < 19, unit="a") for i in range(20)]
    questions += [question(f"b{i}", "q", answered=i < 5, unit="b") for i in range(10)]
    questions += [question("x", "q", answered=True, unit="removed-unit")]
    table = ministry_answer_rates(units, questions, WINDOW)
    assert [row.unit for row in table.units] == ["b", "a", "c"]
    assert [row.meets_target for row in table.units] == [False, True, None]
    assert (table.count(True), table.count(False), table.count(None)) == (1, 1, 1)
    assert table.answer_rate == pytest.approx(24 / 30)


def test_ministry_table_counts_each_units_latest_ratings_of_its_own_questions_in_the_window() -> None:
    units = [("a", "Cục A"), ("b", "Cục B")]
    questions = [question(f"a{i}", "q", answered=True, unit="a") for i in range(4)]
    questions += [question("b0", "q", answered=True, unit="b"), question("old", "q", answered=True, day=9)]
    rated = START + timedelta(days=1)
    feedback = [
        FeedbackRecord("a0", "a", helpful=True, submitted_at=rated),
        FeedbackRecord("a1", "a", helpful=True, submitted_at=rated),
        FeedbackRecord("a2", "a", helpful=True, submitted_at=rated),
        FeedbackRecord("a2", "a", helpful=False, submitted_at=rated + timedelta(hours=1)),  # changed mind
        FeedbackRecord("b0", "a", helpful=False, submitted_at=rated),  # another unit's question
        FeedbackRecord("old", "a", helpful=False, submitted_at=rated),  # asked outside the window
    ]
    table = ministry_answer_rates(units, questions, WINDOW, feedback=feedback)
    rows = {row.unit: row for row in table.units}
    assert (rows["a"].helpful, rows["a"].not_helpful, rows["a"].feedback_count) == (2, 1, 3)
    assert rows["a"].helpful_rate == pytest.approx(2 / 3)
    assert (rows["b"].feedback_count, rows["b"].helpful_rate) == (0, None)


def test_a_gap_answered_by_an_faq_entry_is_closed_until_asked_again_unanswered() -> None:
    groups = group_similar_questions(
        problem_questions(
            [
                question("1", "Lệ phí cấp giấy phép báo điện tử là bao nhiêu?", answered=False),
                question("2", "le phi cap giay phep bao dien tu", answered=False, day=1),
                question("3", "Thủ tục đăng ký kết hôn gồm những gì?", answered=False),
            ],
            [],
        )
    )
    saved = (START + timedelta(days=2)).isoformat()
    entry = FaqEntry(
        unit="a",
        faq_id="le-phi",
        question="Mức lệ phí?",
        answer="100.000 đồng.",
        alternative_questions=("LE PHI cap giay phep  bao dien tu",),  # one of the gap's wordings
        updated_at=saved,
    )
    gaps = close_gaps_answered_by_faq(groups, [entry])
    assert [(gap.group.count, gap.closed_by_faq) for gap in gaps] == [(2, "le-phi"), (1, None)]
    # The entry was written before the gap's last unanswered question: it did not close it
    stale = FaqEntry(
        unit="a",
        faq_id="le-phi",
        question="Lệ phí cấp giấy phép báo điện tử là bao nhiêu",
        answer="100.000 đồng.",
        updated_at=START.isoformat(),
    )
    assert [gap.closed for gap in close_gaps_answered_by_faq(groups, [stale])] == [False, False]


def test_token_bucket_allows_a_burst_then_asks_to_wait() -> None:
    now = [100.0]
    limiter = RateLimiter(rate_per_second=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.acquire("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("k")
    assert wait == pytest.approx(0.5)
    assert retry_after_header(wait) == "1"
    assert limiter.acquire("other") == 0.0  # per credential
    now[0] += 0.5
    assert limiter.acquire("k") == 0.0
    with pytest.raises(ValueError):
        RateLimiter(rate_per_second=0, burst=1)


class InProcessCounter:
    """The shared counter's contract in memory (the JetStream one is tested in test_limits.py);
    `down` makes it unreachable."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.down = False

    async def increment(self, key: str) -> int:
        if self.down:
            raise CounterUnavailable("down")
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key]


def test_rate_windows_keep_the_rate_and_fit_the_counter_retention() -> None:
    # A window allows what one token bucket passes in it: the burst plus the refill.
    assert RateWindow.for_limit(rate_per_second=50, burst=100, max_seconds=300) == RateWindow(2.0, 200)
    assert RateWindow.for_limit(rate_per_second=0.01, burst=10, max_seconds=300) == RateWindow(300, 13)
    window = RateWindow(seconds=10, allowance=2)
    assert window.index(1234.5) == 123
    assert window.wait(2, 1234.5) == 0.0 and window.wait(3, 1234.5) == pytest.approx(5.5)


def test_shared_limiter_counts_every_replica_and_falls_back_to_the_local_bucket() -> None:
    counter, now = InProcessCounter(), [1000.0]
    window = RateWindow(seconds=10, allowance=3)

    def replica() -> SharedRateLimiter:
        local = RateLimiter(rate_per_second=0.3, burst=3, clock=lambda: now[0])
        return SharedRateLimiter(local=local, counter=counter, window=window, wall_clock=lambda: now[0])

    first, second = replica(), replica()

    async def take(limiter: SharedRateLimiter, subject: str = "key-1") -> float:
        return await limiter.acquire(subject)

    waits = [asyncio.run(take(limiter)) for limiter in (first, second, first, second)]
    assert waits[:3] == [0.0, 0.0, 0.0] and waits[3] == pytest.approx(10.0)  # 3 in all, not 3 each
    assert list(counter.counts) == [f"{credential_key('key-1')}.100"]  # a digest, never the subject
    assert asyncio.run(take(first, "key-2")) == 0.0  # per credential
    now[0] += 10  # the next window
    assert asyncio.run(take(second)) == 0.0
    counter.down = True
    fallback = replica()
    assert [asyncio.run(take(fallback, "key-3")) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert asyncio.run(take(fallback, "key-3")) > 0  # the local bucket still protects this replica
    before = dict(counter.counts)
    assert asyncio.run(take(fallback, "key-3")) > 0 and counter.counts == before


def test_transcript_becomes_question_and_history() -> None:
    messages = [
        ChatMessage("system", "Bạn là trợ lý."),
        ChatMessage("user", "Doanh thu 2023?"),
        ChatMessage("assistant", "1.200 tỷ đồng."),
        ChatMessage("user", "Còn năm 2022?"),
        ChatMessage("user", "còn lợi nhuận thì sao?"),
    ]
    question_text, history = question_and_history(messages, max_turns=10)
    assert question_text == "còn lợi nhuận thì sao?"
    assert history == [("Doanh thu 2023?", "1.200 tỷ đồng."), ("Còn năm 2022?", "")]
    assert question_and_history(messages, max_turns=1)[1] == [("Còn năm 2022?", "")]
    with pytest.raises(EmptyTranscript):
        question_and_history([ChatMessage("assistant", "xin chào")], max_turns=10)


def test_answer_pieces_rebuild_the_answer() -> None:
    text = "Thời hạn cấp giấy phép là 30 ngày kể từ ngày nhận đủ hồ sơ hợp lệ.\nĐiều 2. Lệ phí."
    pieces = list(answer_pieces(text, piece_chars=16))
    assert "".join(pieces) == text and len(pieces) > 3
    assert list(answer_pieces("")) == []


def test_conversations_keep_the_last_turns_under_a_key_per_unit_and_credential() -> None:
    conversation = Conversation("c1")
    for index in range(12):
        conversation = conversation.with_turn(Turn(question=f"q{index}", answer=f"a{index}"), max_turns=10)
    assert conversation.history()[0] == ("q2", "a2") and len(conversation.history()) == 10
    key = conversation_key("cuc-a", "api_key:1", "c1")
    assert key.startswith("cuc-a.") and key.endswith(".c1")
    assert key != conversation_key("cuc-b", "api_key:1", "c1")
    assert key != conversation_key("cuc-a", "api_key:2", "c1")


def test_faq_sheet_is_read_back_by_ingests_parser() -> None:
    entry = FaqEntry(
        unit="a",
        faq_id="le-phi",
        question="Lệ phí cấp phép, gồm những khoản nào; nộp ở đâu?",
        answer='=Gồm lệ phí "thẩm định"; nộp tại Bộ phận một cửa.\nChi tiết: Điều 5.',
        alternative_questions=("Phí cấp phép",),
        category="Cấp phép",
        basis="Thông tư 37/2023/TT-BTC",
    )
    parsed = XlsxParser().parse(faq_workbook(entry), limits=IngestLimits())
    assert parsed.is_faq_sheet
    (faq,) = parsed.faq_entries
    assert faq.questions == (entry.question, "Phí cấp phép")
    assert faq.answer == entry.answer
    assert faq.extra == {"category": "Cấp phép", "basis": "Thông tư 37/2023/TT-BTC"}
