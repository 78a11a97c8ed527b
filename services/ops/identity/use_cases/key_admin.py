"""API keys: issue one (for known units only), authenticate a presented key, list and revoke."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

from services.ops.identity.adapters.kv_repositories import (
    ApiKeyRepository,
    ConcurrentUpdate,
    UnitRepository,
)
from services.ops.identity.domain.api_keys import (
    ApiKeyRecord,
    Principal,
    new_api_key,
    parse_api_key,
    secret_matches,
)
from services.ops.identity.domain.errors import NotFound, Unauthenticated
from services.ops.identity.use_cases.units import get_unit
from trolyao.logs import get_logger

log = get_logger("ops")
Clock = Callable[[], datetime]
REVOKE_ATTEMPTS = 5


def utc_now() -> datetime:
    return datetime.now(UTC)


async def create_api_key(
    api_keys: ApiKeyRepository,
    unit_records: UnitRepository,
    *,
    name: str,
    units: tuple[str, ...],
    all_units: bool,
    scopes: tuple[str, ...],
    expires_at: str = "",
    clock: Clock = utc_now,
) -> tuple[str, ApiKeyRecord]:
    for unit_id in units:
        await get_unit(unit_records, unit_id)
    api_key, record = new_api_key(
        name=name, units=units, all_units=all_units, scopes=scopes, now=clock(), expires_at=expires_at
    )
    await api_keys.create(record)
    return api_key, record


async def authenticate_api_key(
    api_keys: ApiKeyRepository, api_key: str, *, clock: Clock = utc_now
) -> Principal:
    """The key's principal; revoked, expired and unknown keys are all just refused."""
    parsed = parse_api_key(api_key)
    if parsed is None:
        raise Unauthenticated("malformed key")
    key_id, secret = parsed
    found = await api_keys.get_for_update(key_id)
    now = clock()
    if found is None or not secret_matches(found[0], secret) or not found[0].usable(now):
        raise Unauthenticated("unknown key")
    record, revision = found
    used = record.used_at(now)
    if used is not None:
        # Another replica noted the use, or the key just changed: either way nothing to redo.
        with contextlib.suppress(ConcurrentUpdate):
            await api_keys.update(used, expected_revision=revision)
    return record.principal


async def list_api_keys(api_keys: ApiKeyRepository) -> list[ApiKeyRecord]:
    """Every key, newest first (the gateway filters what a caller may see)."""
    return sorted(await api_keys.list(), key=lambda record: (record.created_at, record.key_id), reverse=True)


async def revoke_api_key(api_keys: ApiKeyRepository, key_id: str, *, clock: Clock = utc_now) -> ApiKeyRecord:
    """Revoke the key now (NotFound when there is none); retried on concurrent updates."""
    for _ in range(REVOKE_ATTEMPTS):
        found = await api_keys.get_for_update(key_id)
        if found is None:
            raise NotFound(f"api key {key_id}")
        record, revision = found
        revoked = record.revoked_at_time(clock())
        if revoked is record:
            return record
        try:
            await api_keys.update(revoked, expected_revision=revision)
        except ConcurrentUpdate:
            continue
        log.info("api_key_revoked", key_id=key_id)
        return revoked
    raise ConcurrentUpdate(key_id)
