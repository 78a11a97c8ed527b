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


# Retry-After for a bulk upload past the unit's quota: the time the unit's recent drain rate needs to
# bring its bulk backlog back under the quota, within these bounds; the default when no rate is known.
RETRY_AFTER_MIN_SECONDS = 1
RETRY_AFTER_MAX_SECONDS = 600
RETRY_AFTER_UNKNOWN_SECONDS = 30


def bulk_retry_after(waiting: int, limit: int, per_second: float) -> int:
    """Seconds until `waiting` bulk changes drain below `limit` at `per_second`."""
    if per_second <= 0:
        return RETRY_AFTER_UNKNOWN_SECONDS
    excess = max(1, waiting - limit + 1)
    return max(RETRY_AFTER_MIN_SECONDS, min(RETRY_AFTER_MAX_SECONDS, math.ceil(excess / per_second)))


def bulk_quota_text(waiting: int, limit: int, retry_after: int) -> str:
    """Why a bulk upload was refused, and that nothing already accepted is lost."""
    return (
        f"Đơn vị đang có {vietnamese_count(waiting)} văn bản nhập hàng loạt chờ xử lý "
        f"(hạn mức {vietnamese_count(limit)}). Các văn bản đã nhận vẫn đang được xử lý, không bị mất; "
        f"vui lòng gửi lại sau khoảng {retry_after} giây. Văn bản tải lên thông thường vẫn được nhận."
    )
