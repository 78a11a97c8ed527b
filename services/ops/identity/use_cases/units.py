"""Units: create, rename or set the answer threshold of one; read them; seed the configured ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import yaml

from services.ops.identity.adapters.kv_repositories import ApiKeyRepository, ConcurrentUpdate, UnitRepository
from services.ops.identity.domain.errors import NotFound
from services.ops.identity.domain.units import Unit, validate_min_confidence, validate_unit
from trolyao.units import SERVICE_DEFAULT_MIN_CONFIDENCE

PUT_UNIT_ATTEMPTS = 5


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


async def put_unit(
    units: UnitRepository, unit_id: str, name: str, *, min_confidence: float | None = None
) -> Unit:
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
        current = await units.get_for_update(unit_id)
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
                await units.put(unit, expected_revision=None)
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
                await units.put(unit, expected_revision=revision)
            return unit
        except ConcurrentUpdate:
            continue
        except Exception as error:  # create() on an existing key: someone created it first
            if type(error).__name__ == "KeyWrongLastSequenceError":
                continue
            raise
    raise ConcurrentUpdate(unit_id)


async def get_unit(units: UnitRepository, unit_id: str) -> Unit:
    unit = await units.get(unit_id)
    if unit is None:
        raise NotFound(unit_id)
    return unit


async def list_units(units: UnitRepository) -> list[Unit]:
    return await units.list()


async def seed_units(units: UnitRepository, units_file: Path) -> int:
    """Create the configured units that do not exist yet (a unit deleted through the API stays
    deleted); returns how many were created."""
    if not units_file.exists():
        return 0
    entries = yaml.safe_load(units_file.read_text(encoding="utf-8")).get("units", [])
    created = 0
    for entry in entries:
        unit_id = str(entry["id"])
        if await units.get(unit_id) is None and not await units.was_deleted(unit_id):
            await put_unit(units, unit_id, str(entry["name"]))
            created += 1
    return created


async def delete_unit(units: UnitRepository, api_keys: ApiKeyRepository, unit_id: str) -> tuple[int, int]:
    """Forget the unit's record and its API keys: a key naming only this unit is deleted, a key that
    also names other units keeps those. Returns (keys deleted, keys narrowed); NotFound when the
    unit does not exist. The unit's knowledge is removed by the gateway and retrieval."""
    if await units.get(unit_id) is None:
        raise NotFound(unit_id)
    deleted = narrowed = 0
    for record in await api_keys.list():
        principal = record.principal
        if principal.all_units or unit_id not in principal.units:
            continue
        remaining = tuple(unit for unit in principal.units if unit != unit_id)
        if remaining:
            await api_keys.replace(replace(record, principal=replace(principal, units=remaining)))
            narrowed += 1
        else:
            await api_keys.delete(record.key_id)
            deleted += 1
    await units.delete(unit_id)
    return deleted, narrowed
