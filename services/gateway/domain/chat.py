"""Chat transcripts and streamed answers (no I/O).

OpenAI-style clients send the whole transcript on every call; the last user message is the
question and earlier user/assistant pairs are its history. Answers are composed whole by
retrieval (extractive, cited); streaming hands them out in word-aligned pieces so chat front ends
render them as they expect.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

ROLE_USER = "user"
ROLE_ASSISTANT = "assistant"
STREAM_PIECE_CHARS = 48
_PIECE_BREAK = re.compile(r"(?<=\s)")


class EmptyTranscript(ValueError):
    """The transcript has no user message to answer."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a transcript, text only."""

    role: str
    content: str


def question_and_history(
    messages: Sequence[ChatMessage], *, max_turns: int
) -> tuple[str, list[tuple[str, str]]]:
    """The question (last user message) and up to `max_turns` earlier (question, answer) turns.

    System and tool messages carry no knowledge of the unit and are ignored; a user message with
    no assistant reply after it becomes a turn with an empty answer.
    """
    dialogue = [m for m in messages if m.role in (ROLE_USER, ROLE_ASSISTANT)]
    last_user = next((i for i in range(len(dialogue) - 1, -1, -1) if dialogue[i].role == ROLE_USER), None)
    if last_user is None or not dialogue[last_user].content.strip():
        raise EmptyTranscript("no user message")
    question = dialogue[last_user].content.strip()
    turns: list[tuple[str, str]] = []
    for message in dialogue[:last_user]:
        if message.role == ROLE_USER:
            turns.append((message.content.strip(), ""))
        elif turns and not turns[-1][1]:
            turns[-1] = (turns[-1][0], message.content.strip())
    return question, [turn for turn in turns if turn[0]][-max_turns:]


def answer_pieces(text: str, *, piece_chars: int = STREAM_PIECE_CHARS) -> Iterator[str]:
    """Consecutive pieces of `text`, each ending at a word boundary; joined they give `text` back."""
    piece = ""
    for word in _PIECE_BREAK.split(text):
        if piece and len(piece) + len(word) > piece_chars:
            yield piece
            piece = ""
        piece += word
    if piece:
        yield piece


def estimate_tokens(text: str) -> int:
    """A rough token count for OpenAI `usage` (words and punctuation marks)."""
    return len(re.findall(r"\w+|[^\w\s]", text))


__all__ = ["ChatMessage", "EmptyTranscript", "answer_pieces", "estimate_tokens", "question_and_history"]
