"""Document originals in the JetStream object store."""

from __future__ import annotations

from nats.js.errors import NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore


class JetStreamOriginals:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    async def get(self, object_name: str) -> bytes | None:
        try:
            result = await self._store.get(object_name)
        except (ObjectNotFoundError, NotFoundError):
            return None
        return bytes(result.data) if result.data is not None else None

    async def put(self, object_name: str, data: bytes) -> None:
        await self._store.put(object_name, data)
