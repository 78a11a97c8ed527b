"""Cursor pagination: stable order, no repeats or gaps, opaque cursors refused when forged."""

from __future__ import annotations

import pytest

from services.gateway.domain.pagination import InvalidCursor, encode_cursor, page_after

IDS = ["13/2023/NĐ-CP", "a b", "x.y", "Luật|1", "faq-abc"]


def _walk(items: list[str], limit: int, *, descending: bool = False) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = page_after(items, key=lambda item: (item,), limit=limit, cursor=cursor, descending=descending)
        seen += page.items
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


@pytest.mark.parametrize("limit", [1, 2, 4, 5, 100])
def test_pages_cover_the_list_once_in_order(limit: int) -> None:
    assert _walk(IDS, limit) == sorted(IDS)
    assert _walk(IDS, limit, descending=True) == sorted(IDS, reverse=True)


def test_an_item_added_before_the_cursor_does_not_shift_the_next_page() -> None:
    first = page_after(IDS, key=lambda item: (item,), limit=2)
    assert first.next_cursor is not None
    after_insert = page_after([*IDS, "0-moi"], key=lambda item: (item,), limit=2, cursor=first.next_cursor)
    assert after_insert.items == sorted(IDS)[2:4]


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGpzb24", encode_cursor(("a",))[:-2] + "!!", "e30"])
def test_forged_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        page_after(IDS, key=lambda item: (item,), limit=2, cursor=cursor)
