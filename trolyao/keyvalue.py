"""Listing a JetStream key-value bucket without creating consumers.

nats-py lists keys through a KV watch: an ephemeral ordered consumer per call that outlives the
call (its inactive threshold is five minutes), so a burst of listings fills the stream's consumer
limit; its start-up can also read a non-empty bucket as empty, and `keys(filters=...)` matches
substrings, not subjects. Here the stream's own subject index (`STREAM.INFO` with a subject filter)
names the keys under a NATS subject pattern, and direct gets read their current values: nothing is
left on the server, whatever the number of listings.
"""

from __future__ import annotations

import asyncio

from nats.js.errors import KeyDeletedError, KeyNotFoundError
from nats.js.kv import KeyValue

# nats-server answers at most this many subjects in one STREAM.INFO reply.
MAX_LISTED_KEYS = 100_000
CONCURRENT_GETS = 32


class TooManyKeys(Exception):
    """More keys match than one listing reads; narrow the pattern."""


async def matching_keys(store: KeyValue, pattern: str = ">") -> list[str]:
    """Keys of the bucket matching the subject pattern (`unit.>`, `unit.*`), deleted ones included."""
    # nats-py keeps a bucket's name and JetStream context private and offers no accessor.
    name, js = store._name, store._js
    prefix = f"$KV.{name}."
    info = await js.stream_info(f"KV_{name}", subjects_filter=prefix + pattern)
    subjects = info.state.subjects or {}
    if len(subjects) >= MAX_LISTED_KEYS:
        raise TooManyKeys(f"{name}: {MAX_LISTED_KEYS} or more keys match {pattern}")
    return sorted(subject[len(prefix) :] for subject in subjects)


async def live_entries(store: KeyValue, pattern: str = ">") -> dict[str, bytes]:
    """Current value of every live (not deleted or purged) key matching `pattern`, by key."""
    keys = await matching_keys(store, pattern)
    limit = asyncio.Semaphore(CONCURRENT_GETS)

    async def value_of(key: str) -> bytes | None:
        async with limit:
            try:
                entry = await store.get(key)
            except (KeyNotFoundError, KeyDeletedError):
                return None
            return bytes(entry.value) if entry.value is not None else b""

    values = await asyncio.gather(*(value_of(key) for key in keys))
    return {key: value for key, value in zip(keys, values, strict=True) if value is not None}


async def live_keys(store: KeyValue, pattern: str = ">") -> list[str]:
    """Live keys of the bucket matching the subject pattern, sorted."""
    return sorted(await live_entries(store, pattern))


__all__ = ["TooManyKeys", "live_entries", "live_keys", "matching_keys"]
