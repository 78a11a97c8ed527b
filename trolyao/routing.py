"""Which retrieval worker owns a unit, and the channels that reach it.

With the embedded Qdrant Edge store a shard can be opened by one process only (the write-ahead
log's lock, docs/performance.md), so asks use more than one core by *unit ownership*: N retrieval
worker processes, worker `i` the single reader and writer of the units whose stable hash
(crc32 of the unit id) mod N is `i`. Every client of retrieval (gateway, ingest, ops) routes a
call about a unit to its owner through this module; a worker refuses a unit it does not own.

One address (compose, k8s, a Qdrant server behind a Service) keeps the single-process behaviour
exactly: every unit goes to that address.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import grpc

from trolyao.rpc import async_channel
from trolyao.v1 import retrieval_pb2_grpc


def owner_index(unit: str, workers: int) -> int:
    """The index of the worker (0 … workers-1) that owns `unit`: crc32 of its id mod `workers`.

    Stable across processes, restarts and Python versions (unlike `hash()`)."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    return zlib.crc32(unit.encode("utf-8")) % workers


def parse_addresses(value: str) -> tuple[str, ...]:
    """`host:port` addresses from a comma-separated setting, in order (worker 0 first)."""
    addresses = tuple(part.strip() for part in value.split(",") if part.strip())
    if not addresses:
        raise ValueError("no retrieval address given")
    return addresses


def as_addresses(value: str | Sequence[str]) -> tuple[str, ...]:
    """Addresses given as a comma-separated string or as a sequence (worker 0 first)."""
    return parse_addresses(value) if isinstance(value, str) else parse_addresses(",".join(value))


def owner_address(unit: str, addresses: Sequence[str]) -> str:
    """The address of the worker that owns `unit` (the only one when there is one)."""
    return addresses[owner_index(unit, len(addresses))]


class RetrievalRoutes:
    """Async channels to every retrieval worker and the stub of the unit's owner.

    Open it inside the running event loop (grpc.aio binds channels to it); `close()` closes every
    channel."""

    def __init__(self, addresses: str | Sequence[str], *, service_token: str = "") -> None:
        self.addresses = as_addresses(addresses)
        self.channels: tuple[grpc.aio.Channel, ...] = tuple(
            async_channel(address, service_token=service_token) for address in self.addresses
        )
        self._stubs = tuple(retrieval_pb2_grpc.RetrievalServiceStub(channel) for channel in self.channels)

    def stub(self, unit: str) -> retrieval_pb2_grpc.RetrievalServiceStub:
        """The stub of the worker that owns `unit`."""
        return self._stubs[owner_index(unit, len(self._stubs))]

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()
