"""A unit's queue told to people, and the estimate behind it."""

from __future__ import annotations

from services.gateway.domain.ingest_queue import duration_text, queue_banner, vietnamese_count
from trolyao.ingestqueue import QueueReading


def test_the_banner_reads_like_the_console_says_it() -> None:
    assert queue_banner(1832, 25 * 60) == "Đang xử lý 1.832 văn bản — dự kiến xong sau 25 phút"
    assert queue_banner(3, None) == "Đang xử lý 3 văn bản — đang ước tính thời gian hoàn thành"
    assert queue_banner(0, 0.0) == ""


def test_durations_and_counts() -> None:
    assert vietnamese_count(1234567) == "1.234.567"
    assert duration_text(20) == "dưới 1 phút"
    assert duration_text(60) == "1 phút"
    assert duration_text(61) == "2 phút"
    assert duration_text(2 * 3600 + 5 * 60) == "2 giờ 5 phút"
    assert duration_text(3600) == "1 giờ"


def test_the_estimate_divides_what_waits_by_the_drain_rate() -> None:
    assert QueueReading(unit="a", interactive=2, bulk=98, per_second=4.0).eta_seconds == 25.0
    assert QueueReading(unit="a", bulk=10).eta_seconds is None  # nothing drained yet: unknown
    assert QueueReading(unit="a").eta_seconds == 0.0
