"""Document originals in the JetStream object store.

Originals uploaded through the gateway (or kept by ingest) live in the shared `originals` bucket; a
unit's own systems upload into the unit's bucket (`originals_<unit>`), the only one their event
credential can write. A name `<unit>.<id>/<version>` is looked up in that unit's bucket first.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

from trolyao.messaging import UNIT_ID_PATTERN
from trolyao.natsaccess import unit_originals_bucket


async def _read(store: ObjectStore, object_name: str) -> bytes | None:
    try:
        result = await store.get(object_name)
    except (ObjectNotFoundError, NotFoundError):
        return None
    return bytes(result.data) if result.data is not None else None


class JetStreamOriginals:
    def __init__(self, store: ObjectStore, *, js: JetStreamContext | None = None) -> None:
        self._store = store
        self._js = js
        self._unit_stores: dict[str, ObjectStore] = {}

    async def _unit_store(self, object_name: str) -> ObjectStore | None:
        unit = object_name.partition(".")[0]
        if self._js is None or not UNIT_ID_PATTERN.match(unit):
            return None
        if unit not in self._unit_stores:
            try:
                self._unit_stores[unit] = await self._js.object_store(unit_originals_bucket(unit))
            except (BucketNotFoundError, NotFoundError):
                return None
        return self._unit_stores[unit]

    async def get(self, object_name: str) -> bytes | None:
        unit_store = await self._unit_store(object_name)
        if unit_store is not None:
            data = await _read(unit_store, object_name)
            if data is not None:
                return data
        return await _read(self._store, object_name)

    async def put(self, object_name: str, data: bytes) -> None:
        await self._store.put(object_name, data)
