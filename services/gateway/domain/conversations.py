"""Multi-turn conversations: the turns the gateway remembers so follow-ups are asked with history.

A conversation belongs to one unit and one credential: its storage key is built from both, so a
conversation id guessed or leaked from another unit or another credential finds nothing. Only the
last `MAX_REMEMBERED_TURNS` turns are kept; the store forgets idle conversations after a TTL.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Protocol

MAX_REMEMBERED_TURNS = 10
CONVERSATION_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_CONVERSATION_ID = re.compile(CONVERSATION_ID_PATTERN)
_OWNER_DIGEST_CHARS = 24


@dataclass(frozen=True, slots=True)
class Turn:
    """One question and the answer given to it."""

    question: str
    answer: str
    question_id: str = ""
    answered: bool = False


@dataclass(frozen=True, slots=True)
class Conversation:
    """The remembered turns of one conversation, oldest first."""

    conversation_id: str
    turns: tuple[Turn, ...] = field(default_factory=tuple)

    def with_turn(self, turn: Turn, *, max_turns: int = MAX_REMEMBERED_TURNS) -> Conversation:
        """The conversation after `turn`, keeping only the last `max_turns` turns."""
        return replace(self, turns=(*self.turns, turn)[-max_turns:])

    def history(self) -> list[tuple[str, str]]:
        """(question, answer) pairs for retrieval's Ask, oldest first."""
        return [(turn.question, turn.answer) for turn in self.turns]


def is_valid_conversation_id(conversation_id: str) -> bool:
    """Ids are chosen by the gateway or the portal; they must fit in a storage key."""
    return bool(_CONVERSATION_ID.match(conversation_id))


def conversation_key(unit: str, owner: str, conversation_id: str) -> str:
    """Storage key scoped to (unit, credential): nobody else's id can reach this conversation."""
    digest = hashlib.sha256(owner.encode()).hexdigest()[:_OWNER_DIGEST_CHARS]
    return f"{unit}.{digest}.{conversation_id}"


class ConversationStore(Protocol):
    """Where conversations live between requests (a NATS KV bucket with a TTL in production)."""

    async def load(self, key: str) -> Conversation | None:
        """The conversation stored under `key`, or None when unknown or expired."""
        ...

    async def save(self, key: str, conversation: Conversation) -> None:
        """Store (and refresh the TTL of) the conversation."""
        ...


__all__ = [
    "CONVERSATION_ID_PATTERN",
    "MAX_REMEMBERED_TURNS",
    "Conversation",
    "ConversationStore",
    "Turn",
    "conversation_key",
    "is_valid_conversation_id",
]
