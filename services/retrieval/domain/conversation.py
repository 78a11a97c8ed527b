"""Follow-up questions: "còn lợi nhuận thì sao?" read against the conversation so far.

A question is a follow-up when it opens or closes with a continuation cue (còn …, thế còn …,
vậy …, … thì sao, … thì thế nào) or is too short to stand alone, and there is an earlier question.
It is then searched as itself (full weight) plus the previous question (reduced weight), so the
new focus ("lợi nhuận") leads while the old context ("năm 2023 của công ty") still narrows the
search. The composer and the verifier then judge the passage against the combined question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from services.retrieval.domain.lexical import folded_syllables
from trolyao.vietnamese import fold_diacritics

CONTEXT_WEIGHT = 0.5
SHORT_QUESTION_SYLLABLES = 4
ROLE_NAMES = frozenset({"user", "assistant", "system", "người dùng", "trợ lý"})
_FOLLOW_UP_OPENING = re.compile(r"^\s*(con|the con|vay con|vay|the|the thi|con ve|con neu|va)\b")
_FOLLOW_UP_CLOSING = re.compile(r"\b(thi sao|the nao|thi the nao|thi nhu the nao|thi lam sao)\s*\??\s*$")
_CUE_WORDS = re.compile(
    r"^\s*(còn|thế còn|vậy còn|vậy|thế thì|thế|còn về|còn nếu|và)\s+|\s*(thì sao|thì thế nào|"
    r"thì như thế nào|thế nào|thì làm sao)\s*\??\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ResolvedQuestion:
    """The question as searched: its own text, earlier context with a weight, and a display form."""

    question: str
    focus: str
    context: str = ""

    @property
    def is_follow_up(self) -> bool:
        """Whether earlier turns were used."""
        return bool(self.context)

    @property
    def display(self) -> str:
        """How the resolved question reads in an answer (`resolved_question`)."""
        if not self.context:
            return self.question
        return f"{self.focus} (tiếp theo câu hỏi: {self.context})"

    def sparse_parts(self) -> tuple[tuple[str, float], ...]:
        """Texts and weights for the sparse query."""
        if not self.context:
            return ((self.question, 1.0),)
        return ((self.focus, 1.0), (self.context, CONTEXT_WEIGHT))

    @property
    def combined(self) -> str:
        """One text for the dense side and for the composer."""
        return f"{self.focus} {self.context}".strip() if self.context else self.question


def previous_questions(history: Sequence[tuple[str, str]]) -> list[str]:
    """User questions of the history, oldest first.

    Accepts either (question, answer) turns or (role, text) messages such as ("user", "...").
    """
    if history and all(role.strip().lower() in ROLE_NAMES for role, _ in history):
        return [text for role, text in history if role.strip().lower() in {"user", "người dùng"}]
    return [question for question, _ in history]


def is_follow_up(question: str) -> bool:
    """Whether the question leans on an earlier one."""
    folded = fold_diacritics(question).strip()
    if _FOLLOW_UP_OPENING.search(folded) or _FOLLOW_UP_CLOSING.search(folded):
        return True
    return len(folded_syllables(question)) < SHORT_QUESTION_SYLLABLES


def resolve(question: str, history: Sequence[tuple[str, str]]) -> ResolvedQuestion:
    """The question with its conversational context, when it is a follow-up."""
    earlier = [q for q in previous_questions(history) if q.strip()]
    if not earlier or not is_follow_up(question):
        return ResolvedQuestion(question=question, focus=question)
    focus = _CUE_WORDS.sub(" ", question).strip(" ?") or question
    return ResolvedQuestion(question=question, focus=focus, context=earlier[-1])


__all__ = ["CONTEXT_WEIGHT", "ResolvedQuestion", "is_follow_up", "previous_questions", "resolve"]
