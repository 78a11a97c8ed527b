"""A unit's own originals bucket (where its systems upload the files their events name), made when
the unit is first given an event credential."""

from __future__ import annotations

import asyncio
import time

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.js.api import ObjectStoreConfig
from nats.js.errors import BucketNotFoundError, NotFoundError

from trolyao.natsaccess import unit_originals_bucket

# ops may manage a unit's bucket only once the reloaded users file grants it: a refused request
# gets no answer, so each try waits this long, and tries until GRANT_WAIT_SECONDS.
REQUEST_TIMEOUT_SECONDS = 0.5
GRANT_WAIT_SECONDS = 10.0
RETRY_PAUSE_SECONDS = 0.1


class UnitOriginalsBuckets:
    def __init__(
        self, client: NatsClient, *, replicas: int = 1, grant_wait_seconds: float = GRANT_WAIT_SECONDS
    ) -> None:
        self._js = client.jetstream(timeout=REQUEST_TIMEOUT_SECONDS)
        self._replicas = replicas
        self._grant_wait_seconds = grant_wait_seconds

    async def ensure(self, unit: str) -> None:
        bucket = unit_originals_bucket(unit)
        deadline = time.monotonic() + self._grant_wait_seconds
        while True:
            try:
                try:
                    await self._js.object_store(bucket)
                except (BucketNotFoundError, NotFoundError):
                    await self._js.create_object_store(
                        bucket, ObjectStoreConfig(bucket=bucket, replicas=self._replicas)
                    )
                return
            except nats.errors.TimeoutError:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(RETRY_PAUSE_SECONDS)


__all__ = ["UnitOriginalsBuckets"]
