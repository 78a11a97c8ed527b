"""A unit's ingest queue told to people: the banner the console shows above the documents.

Plain values in, Vietnamese text out: "Đang xử lý 1.832 văn bản — dự kiến xong sau 25 phút".
"""

from __future__ import annotations

import math

SECONDS_PER_MINUTE = 60
MINUTES_PER_HOUR = 60


def vietnamese_count(value: int) -> str:
    """1832 → "1.832" (Vietnamese groups thousands with dots)."""
    return f"{value:,}".replace(",", ".")


def duration_text(seconds: float) -> str:
    """A rough duration a person reads at a glance: "dưới 1 phút", "25 phút", "2 giờ 5 phút"."""
    minutes = math.ceil(seconds / SECONDS_PER_MINUTE)
    if minutes <= 1:
        return "dưới 1 phút" if seconds < SECONDS_PER_MINUTE else "1 phút"
    if minutes < MINUTES_PER_HOUR:
        return f"{minutes} phút"
    hours, rest = divmod(minutes, MINUTES_PER_HOUR)
    return f"{hours} giờ" if rest == 0 else f"{hours} giờ {rest} phút"


def queue_banner(waiting: int, eta_seconds: float | None) -> str:
    """What the console shows while changes wait; "" when nothing waits."""
    if waiting <= 0:
        return ""
    head = f"Đang xử lý {vietnamese_count(waiting)} văn bản"
    if eta_seconds is None:
        return f"{head} — đang ước tính thời gian hoàn thành"
    return f"{head} — dự kiến xong sau {duration_text(eta_seconds)}"
