"""A unit's queue told to people, and the estimate behind it."""

from __future__ import annotations

from services.gateway.domain.ingest_queue import (
    RETRY_AFTER_MAX_SECONDS,
    RETRY_AFTER_UNKNOWN_SECONDS,
    bulk_retry_after,
    duration_text,
    queue_banner,
    vietnamese_count,
)
from trolyao.ingestqueue import QueueReading, subject_lane
from trolyao.messaging import IngestLane


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


def test_a_documents_place_is_its_ordinal_in_its_lane_minus_what_the_lane_has_done() -> None:
    reading = QueueReading(unit="a", interactive=2, bulk=40, interactive_done=7, bulk_done=100)
    assert reading.position("bulk", 125) == 25
    assert reading.position("interactive", 9) == 2
    assert reading.position("bulk", 90) == 1  # done by the reading, still pending: being worked on
    assert reading.position("bulk", 0) is None  # not numbered (an event-borne change)
    assert QueueReading(unit="a").position("interactive", 3) == 3  # ingest has read nothing yet


def test_retry_after_is_the_time_the_drain_rate_needs_to_get_under_the_quota() -> None:
    assert bulk_retry_after(1010, 1000, per_second=2.0) == 6  # 11 over the quota at 2/s
    assert bulk_retry_after(1000, 1000, per_second=10.0) == 1
    assert bulk_retry_after(50_000, 1000, per_second=1.0) == RETRY_AFTER_MAX_SECONDS
    assert bulk_retry_after(1200, 1000, per_second=0.0) == RETRY_AFTER_UNKNOWN_SECONDS


def test_a_subject_names_its_unit_and_lane() -> None:
    assert subject_lane("docs.cuc-bao-chi.upsert") == ("cuc-bao-chi", IngestLane.INTERACTIVE)
    assert subject_lane("docs.cuc-bao-chi.bulk.delete") == ("cuc-bao-chi", IngestLane.BULK)
    assert subject_lane("docs.Not_A_Unit.upsert") is None
    assert subject_lane("docs.upsert") is None
