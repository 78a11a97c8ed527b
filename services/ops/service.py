"""Ops handlers for units and API keys, as one object for the gRPC servicer (no transport types here).

Each method hands over to its identity use case module (identity/use_cases/units.py,
identity/use_cases/key_admin.py); this class adds no logic of its own.
"""

from __future__ import annotations

from pathlib import Path

from services.ops.identity.adapters.kv_repositories import ApiKeyRepository, UnitRepository
from services.ops.identity.domain.api_keys import ApiKeyRecord, Principal
from services.ops.identity.domain.units import Unit
from services.ops.identity.use_cases import key_admin
from services.ops.identity.use_cases import units as unit_use_cases


class OpsHandlers:
    def __init__(self, *, units: UnitRepository, api_keys: ApiKeyRepository) -> None:
        self._units = units
        self._api_keys = api_keys

    async def put_unit(self, unit_id: str, name: str, *, min_confidence: float | None = None) -> Unit:
        """Create the unit, rename it, or set its answer threshold; retried on concurrent updates.

        An empty `name` keeps an existing unit's name; `min_confidence` None keeps its threshold
        (0 sets it back to the service default).
        """
        return await unit_use_cases.put_unit(self._units, unit_id, name, min_confidence=min_confidence)

    async def get_unit(self, unit_id: str) -> Unit:
        return await unit_use_cases.get_unit(self._units, unit_id)

    async def list_units(self) -> list[Unit]:
        return await unit_use_cases.list_units(self._units)

    async def delete_unit(self, unit_id: str) -> tuple[int, int]:
        """Forget the unit and its keys; (keys deleted, keys narrowed)."""
        return await unit_use_cases.delete_unit(self._units, self._api_keys, unit_id)

    async def seed_units(self, units_file: Path) -> int:
        """Create the configured units that do not exist yet; returns how many were created."""
        return await unit_use_cases.seed_units(self._units, units_file)

    async def create_api_key(
        self,
        *,
        name: str,
        units: tuple[str, ...],
        all_units: bool,
        scopes: tuple[str, ...],
        expires_at: str = "",
    ) -> tuple[str, ApiKeyRecord]:
        return await key_admin.create_api_key(
            self._api_keys,
            self._units,
            name=name,
            units=units,
            all_units=all_units,
            scopes=scopes,
            expires_at=expires_at,
        )

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        return await key_admin.list_api_keys(self._api_keys)

    async def revoke_api_key(self, key_id: str) -> ApiKeyRecord:
        return await key_admin.revoke_api_key(self._api_keys, key_id)

    async def authenticate_api_key(self, api_key: str) -> Principal:
        return await key_admin.authenticate_api_key(self._api_keys, api_key)
