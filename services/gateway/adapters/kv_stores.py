"""Conversations and FAQ entries in JetStream key-value buckets.

`conversations` has a TTL (idle conversations are forgotten; every new turn rewrites the entry and
so restarts its clock); `faq_entries` keeps each unit's curated entries under `<unit>.<faq_id>`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from services.gateway.domain.conversations import Conversation, Turn
from services.gateway.domain.faq import FaqEntry
from trolyao.keyvalue import live_entries
from trolyao.messaging import CONVERSATIONS_BUCKET, FAQ_ENTRIES_BUCKET


async def _bucket(js: JetStreamContext, name: str) -> KeyValue:
    return await js.key_value(name)


class NatsConversationStore:
    """ConversationStore over the `conversations` bucket."""

    def __init__(self, js_provider: Callable[[], JetStreamContext]) -> None:
        self._js = js_provider

    async def load(self, key: str) -> Conversation | None:
        """The conversation, or None when unknown or expired."""
        bucket = await _bucket(self._js(), CONVERSATIONS_BUCKET)
        try:
            entry = await bucket.get(key)
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        raw: dict[str, Any] = json.loads(entry.value)
        return Conversation(
            conversation_id=str(raw["conversation_id"]),
            turns=tuple(Turn(**turn) for turn in raw.get("turns", [])),
        )

    async def save(self, key: str, conversation: Conversation) -> None:
        """Write the whole conversation (last writer wins; turns are appended by one caller at a time)."""
        bucket = await _bucket(self._js(), CONVERSATIONS_BUCKET)
        payload = {
            "conversation_id": conversation.conversation_id,
            "turns": [asdict(t) for t in conversation.turns],
        }
        await bucket.put(key, json.dumps(payload, ensure_ascii=False).encode())


class NatsFaqStore:
    """FaqStore over the `faq_entries` bucket."""

    def __init__(self, js_provider: Callable[[], JetStreamContext]) -> None:
        self._js = js_provider

    async def get(self, unit: str, faq_id: str) -> FaqEntry | None:
        """The entry, or None."""
        bucket = await _bucket(self._js(), FAQ_ENTRIES_BUCKET)
        try:
            entry = await bucket.get(f"{unit}.{faq_id}")
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        return _faq_entry(json.loads(entry.value))

    async def put(self, entry: FaqEntry) -> None:
        """Create or replace the entry."""
        bucket = await _bucket(self._js(), FAQ_ENTRIES_BUCKET)
        raw = asdict(entry)
        raw["alternative_questions"] = list(entry.alternative_questions)
        await bucket.put(f"{entry.unit}.{entry.faq_id}", json.dumps(raw, ensure_ascii=False).encode())

    async def delete(self, unit: str, faq_id: str) -> bool:
        """Forget the entry; False when there was none."""
        if await self.get(unit, faq_id) is None:
            return False
        bucket = await _bucket(self._js(), FAQ_ENTRIES_BUCKET)
        await bucket.delete(f"{unit}.{faq_id}")
        return True

    async def list(self, unit: str) -> list[FaqEntry]:
        """Every entry of the unit, by id."""
        bucket = await _bucket(self._js(), FAQ_ENTRIES_BUCKET)
        stored = await live_entries(bucket, f"{unit}.*")  # by subject: never another unit's keys
        entries = [_faq_entry(json.loads(value)) for value in stored.values() if value]
        return sorted(entries, key=lambda e: e.faq_id)


def _faq_entry(raw: dict[str, Any]) -> FaqEntry:
    raw["alternative_questions"] = tuple(raw.get("alternative_questions", ()))
    return FaqEntry(**raw)


__all__ = ["NatsConversationStore", "NatsFaqStore"]
