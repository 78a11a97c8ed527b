"""API key records: expiry, revocation (first one kept) and the last-use resolution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.ops.identity.domain.api_keys import (
    LAST_USED_RESOLUTION_SECONDS,
    InvalidApiKeyRequest,
    new_api_key,
)

NOW = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)


def test_a_key_expires_at_its_time_and_a_revoked_one_keeps_its_first_revocation() -> None:
    _, record = new_api_key(
        name="k",
        units=("a",),
        all_units=False,
        scopes=("read",),
        now=NOW,
        expires_at=(NOW + timedelta(hours=1)).isoformat(),
    )
    assert record.usable(NOW + timedelta(minutes=59))
    assert not record.usable(NOW + timedelta(hours=1))
    revoked = record.revoked_at_time(NOW)
    assert not revoked.usable(NOW) and revoked.revoked_at == "2026-12-04T06:00:00Z"
    assert revoked.revoked_at_time(NOW + timedelta(days=1)) is revoked


@pytest.mark.parametrize("expires_at", ["2026-12-04T05:59:59Z", "ngày mai"])
def test_an_expiry_in_the_past_or_unreadable_is_refused(expires_at: str) -> None:
    with pytest.raises(InvalidApiKeyRequest):
        new_api_key(name="k", units=("a",), all_units=False, scopes=("read",), now=NOW, expires_at=expires_at)


def test_last_use_is_written_at_most_once_per_resolution() -> None:
    _, record = new_api_key(name="k", units=("a",), all_units=False, scopes=("read",), now=NOW)
    used = record.used_at(NOW)
    assert used is not None and used.last_used_at == "2026-12-04T06:00:00Z"
    assert used.used_at(NOW + timedelta(seconds=LAST_USED_RESOLUTION_SECONDS - 1)) is None
    assert used.used_at(NOW + timedelta(seconds=LAST_USED_RESOLUTION_SECONDS)) is not None


def test_an_expiry_beyond_the_calendar_in_utc_is_refused_not_a_crash() -> None:
    with pytest.raises(InvalidApiKeyRequest):
        new_api_key(
            name="k",
            units=("a",),
            all_units=False,
            scopes=("read",),
            now=NOW,
            expires_at="9999-12-31T23:59:00-23:59",
        )
