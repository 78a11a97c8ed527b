"""API keys: issue one (for known units only) and authenticate a presented key."""

from __future__ import annotations

from services.ops.identity.adapters.kv_repositories import ApiKeyRepository, UnitRepository
from services.ops.identity.domain.api_keys import (
    ApiKeyRecord,
    Principal,
    new_api_key,
    parse_api_key,
    secret_matches,
)
from services.ops.identity.domain.errors import Unauthenticated
from services.ops.identity.use_cases.units import get_unit, now_iso


async def create_api_key(
    api_keys: ApiKeyRepository,
    unit_records: UnitRepository,
    *,
    name: str,
    units: tuple[str, ...],
    all_units: bool,
    scopes: tuple[str, ...],
) -> tuple[str, ApiKeyRecord]:
    for unit_id in units:
        await get_unit(unit_records, unit_id)
    api_key, record = new_api_key(
        name=name, units=units, all_units=all_units, scopes=scopes, created_at=now_iso()
    )
    await api_keys.create(record)
    return api_key, record


async def authenticate_api_key(api_keys: ApiKeyRepository, api_key: str) -> Principal:
    parsed = parse_api_key(api_key)
    if parsed is None:
        raise Unauthenticated("malformed key")
    key_id, secret = parsed
    record = await api_keys.get(key_id)
    if record is None or not secret_matches(record, secret):
        raise Unauthenticated("unknown key")
    return record.principal
