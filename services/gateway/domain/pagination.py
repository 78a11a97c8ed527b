"""One pagination style for every list the gateway answers: `limit` + an opaque `cursor`, answered
with `next_cursor` (null on the last page), over a stable order.

A cursor is the sort key of the last item of the previous page (URL-safe base64 of its JSON), so a
page never repeats or skips an item that was there before and after, whatever is added or removed
meanwhile elsewhere in the list.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_CURSOR_CHARS = 2048

Item = TypeVar("Item")
SortKey = tuple[str | int, ...]


class InvalidCursor(ValueError):
    """The cursor was not made by this API (or was altered)."""


@dataclass(frozen=True, slots=True)
class Page(Generic[Item]):
    items: list[Item]
    next_cursor: str | None


def encode_cursor(position: SortKey) -> str:
    raw = json.dumps(list(position), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> SortKey:
    if len(cursor) > MAX_CURSOR_CHARS:
        raise InvalidCursor(cursor[:40])
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise InvalidCursor(cursor[:40]) from error
    if not isinstance(position, list) or not all(isinstance(part, str | int) for part in position):
        raise InvalidCursor(cursor[:40])
    return tuple(position)


def page_after(
    items: Sequence[Item],
    *,
    key: Callable[[Item], SortKey],
    limit: int,
    cursor: str | None = None,
    descending: bool = False,
) -> Page[Item]:
    """The `limit` items that follow `cursor` in `key` order (largest first when `descending`), and
    the cursor of the next page (None on the last)."""
    ordered = sorted(items, key=lambda item: _comparable(key(item)), reverse=descending)
    if cursor:
        after = _comparable(decode_cursor(cursor))
        ordered = [
            item
            for item in ordered
            if (_comparable(key(item)) < after if descending else _comparable(key(item)) > after)
        ]
    page = ordered[:limit]
    more = len(ordered) > limit
    return Page(items=page, next_cursor=encode_cursor(key(page[-1])) if more and page else None)


def _comparable(position: SortKey) -> tuple[tuple[int, str | int], ...]:
    """Sort keys compare part by part; a cursor part of the other type sorts by type first."""
    return tuple((0, part) if isinstance(part, int) else (1, part) for part in position)


__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "InvalidCursor",
    "Page",
    "decode_cursor",
    "encode_cursor",
    "page_after",
]
