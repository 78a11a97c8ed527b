"""What the gateway hands between its edges: answers, citations, units, issued keys (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Citation:
    """Where an answer comes from."""

    document_id: str
    title: str
    snippet: str
    path: str = ""
    number: str = ""
    source_url: str = ""
    chunk_ordinal: int = 0
    score: float = 0.0
    role: str = "answer"
    passage: str = ""
    question: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    """Retrieval's answer (or abstention) to one question."""

    answered: bool
    text: str
    confidence: float
    source: str
    citations: tuple[Citation, ...] = field(default_factory=tuple)
    resolved_question: str = ""


@dataclass(frozen=True, slots=True)
class AnsweredQuestion:
    """An answer as the API returns it: with the ids that feedback and follow-ups refer to."""

    unit: str
    question_id: str
    conversation_id: str
    answer: Answer


@dataclass(frozen=True, slots=True)
class UnitInfo:
    """A unit of the ministry."""

    unit_id: str
    name: str
    created_at: str
    updated_at: str
    # The unit's abstention threshold, or None for the retrieval service's default.
    min_confidence: float | None = None


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A new API key: the secret is shown once."""

    key_id: str
    api_key: str
    name: str
    units: tuple[str, ...]
    all_units: bool
    scopes: tuple[str, ...]
    expires_at: str = ""


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """An API key as listed: no secret."""

    key_id: str
    name: str
    units: frozenset[str]
    all_units: bool
    scopes: tuple[str, ...]
    created_at: str
    expires_at: str
    revoked: bool
    revoked_at: str
    last_used_at: str


__all__ = ["Answer", "AnsweredQuestion", "ApiKeyInfo", "Citation", "IssuedApiKey", "UnitInfo"]
