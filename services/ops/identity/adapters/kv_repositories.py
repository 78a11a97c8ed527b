"""Units and API keys in JetStream key-value buckets, with revision checks against lost updates."""

from __future__ import annotations

import json
from dataclasses import asdict

from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.ops.identity.domain.api_keys import ApiKeyRecord, Principal
from services.ops.identity.domain.units import Unit
from trolyao.keyvalue import live_keys


class ConcurrentUpdate(RuntimeError):
    """Someone else changed the entry between our read and our write."""


class UnitRepository:
    def __init__(self, bucket: KeyValue) -> None:
        self._bucket = bucket

    async def get(self, unit_id: str) -> Unit | None:
        found = await self._get_with_revision(unit_id)
        return found[0] if found else None

    async def _get_with_revision(self, unit_id: str) -> tuple[Unit, int] | None:
        try:
            entry = await self._bucket.get(unit_id)
        except KeyNotFoundError:
            return None
        if entry.value is None:
            return None
        return Unit(**json.loads(entry.value)), int(entry.revision or 0)

    async def put(self, unit: Unit, *, expected_revision: int | None) -> None:
        """Create (expected_revision None) or update at exactly that revision."""
        payload = json.dumps(asdict(unit), ensure_ascii=False).encode()
        try:
            if expected_revision is None:
                await self._bucket.create(unit.unit_id, payload)
            else:
                await self._bucket.update(unit.unit_id, payload, last=expected_revision)
        except KeyWrongLastSequenceError as error:
            raise ConcurrentUpdate(unit.unit_id) from error

    async def get_for_update(self, unit_id: str) -> tuple[Unit, int] | None:
        return await self._get_with_revision(unit_id)

    async def list(self) -> list[Unit]:
        units = [await self.get(key) for key in await live_keys(self._bucket)]
        return sorted((unit for unit in units if unit is not None), key=lambda unit: unit.unit_id)

    async def delete(self, unit_id: str) -> None:
        """Delete the record, leaving the bucket's delete marker (see `was_deleted`)."""
        await self._bucket.delete(unit_id)

    async def was_deleted(self, unit_id: str) -> bool:
        """Whether the unit existed once and was deleted (its last entry is a delete marker)."""
        try:
            await self._bucket.get(unit_id)
        except KeyDeletedError:
            return True
        except KeyNotFoundError:
            return False
        return False


class ApiKeyRepository:
    def __init__(self, bucket: KeyValue) -> None:
        self._bucket = bucket

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        found = await self.get_for_update(key_id)
        return found[0] if found else None

    async def get_for_update(self, key_id: str) -> tuple[ApiKeyRecord, int] | None:
        try:
            entry = await self._bucket.get(key_id)
        except KeyNotFoundError:
            return None
        if entry.value is None:
            return None
        raw = json.loads(entry.value)
        principal = raw.pop("principal")
        record = ApiKeyRecord(
            **raw,
            principal=Principal(
                subject=principal["subject"],
                kind=principal["kind"],
                units=tuple(principal["units"]),
                all_units=principal["all_units"],
                scopes=tuple(principal["scopes"]),
            ),
        )
        return record, int(entry.revision or 0)

    async def create(self, record: ApiKeyRecord) -> None:
        await self._bucket.create(record.key_id, json.dumps(asdict(record)).encode())

    async def update(self, record: ApiKeyRecord, *, expected_revision: int) -> None:
        """Replace the record at exactly that revision (ConcurrentUpdate otherwise)."""
        try:
            await self._bucket.update(
                record.key_id, json.dumps(asdict(record)).encode(), last=expected_revision
            )
        except KeyWrongLastSequenceError as error:
            raise ConcurrentUpdate(record.key_id) from error

    async def list(self) -> list[ApiKeyRecord]:
        records = [await self.get(key) for key in await live_keys(self._bucket)]
        return [record for record in records if record is not None]

    async def replace(self, record: ApiKeyRecord) -> None:
        await self._bucket.put(record.key_id, json.dumps(asdict(record)).encode())

    async def delete(self, key_id: str) -> None:
        await self._bucket.delete(key_id)
