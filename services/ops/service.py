"""Ops handlers: plain async functions over repositories (no transport types here)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import yaml

from services.ops.identity.adapters.kv_repositories import ApiKeyRepository, ConcurrentUpdate, UnitRepository
from services.ops.identity.domain.api_keys import (
    ApiKeyRecord,
    Principal,
    new_api_key,
    parse_api_key,
    secret_matches,
)
from services.ops.identity.domain.errors import NotFound, Unauthenticated
from services.ops.identity.domain.units import Unit, validate_min_confidence, validate_unit
from trolyao.units import SERVICE_DEFAULT_MIN_CONFIDENCE

PUT_UNIT_ATTEMPTS = 5


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class OpsHandlers:
    def __init__(self, *, units: UnitRepository, api_keys: ApiKeyRepository) -> None:
        self._units = units
        self._api_keys = api_keys

    async def put_unit(self, unit_id: str, name: str, *, min_confidence: float | None = None) -> Unit:
        """Create the unit, rename it, or set its answer threshold; retried on concurrent updates.

        An empty `name` keeps an existing unit's name; `min_confidence` None keeps its threshold
        (0 sets it back to the service default).
        """
        if min_confidence is not None:
            min_confidence = validate_min_confidence(min_confidence)
        keep_name = not name.strip()
        if not keep_name:
            unit_id, name = validate_unit(unit_id, name)
        for _ in range(PUT_UNIT_ATTEMPTS):
            current = await self._units.get_for_update(unit_id)
            stamp = now_iso()
            try:
                if current is None:
                    unit_id, name = validate_unit(unit_id, name)
                    unit = Unit(
                        unit_id=unit_id,
                        name=name,
                        created_at=stamp,
                        updated_at=stamp,
                        min_confidence=min_confidence or SERVICE_DEFAULT_MIN_CONFIDENCE,
                    )
                    await self._units.put(unit, expected_revision=None)
                else:
                    existing, revision = current
                    changed = replace(
                        existing,
                        name=existing.name if keep_name else name,
                        min_confidence=existing.min_confidence if min_confidence is None else min_confidence,
                    )
                    if changed == existing:
                        return existing
                    unit = replace(changed, updated_at=stamp)
                    await self._units.put(unit, expected_revision=revision)
                return unit
            except ConcurrentUpdate:
                continue
            except Exception as error:  # create() on an existing key: someone created it first
                if type(error).__name__ == "KeyWrongLastSequenceError":
                    continue
                raise
        raise ConcurrentUpdate(unit_id)

    async def get_unit(self, unit_id: str) -> Unit:
        unit = await self._units.get(unit_id)
        if unit is None:
            raise NotFound(unit_id)
        return unit

    async def list_units(self) -> list[Unit]:
        return await self._units.list()

    async def seed_units(self, units_file: Path) -> int:
        """Create the configured units that do not exist yet; returns how many were created."""
        if not units_file.exists():
            return 0
        entries = yaml.safe_load(units_file.read_text(encoding="utf-8")).get("units", [])
        created = 0
        for entry in entries:
            if await self._units.get(str(entry["id"])) is None:
                await self.put_unit(str(entry["id"]), str(entry["name"]))
                created += 1
        return created

    async def create_api_key(
        self, *, name: str, units: tuple[str, ...], all_units: bool, scopes: tuple[str, ...]
    ) -> tuple[str, ApiKeyRecord]:
        for unit_id in units:
            await self.get_unit(unit_id)
        api_key, record = new_api_key(
            name=name, units=units, all_units=all_units, scopes=scopes, created_at=now_iso()
        )
        await self._api_keys.create(record)
        return api_key, record

    async def authenticate_api_key(self, api_key: str) -> Principal:
        parsed = parse_api_key(api_key)
        if parsed is None:
            raise Unauthenticated("malformed key")
        key_id, secret = parsed
        record = await self._api_keys.get(key_id)
        if record is None or not secret_matches(record, secret):
            raise Unauthenticated("unknown key")
        return record.principal
