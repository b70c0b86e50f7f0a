"""Follow-up questions: turn the last turn of a conversation into a standalone search query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    text: str


def fold_history(question: str, history: Sequence[Turn], *, user_turns: int = 1) -> str:
    """Deterministic rewrite: the question plus the last `user_turns` earlier user turns.

    Follow-ups ("what about on Android?") lean on the user's previous question for their subject;
    assistant turns are long and would drown the question, so they are left out.
    """
    earlier = [t.text.strip() for t in history if t.role == "user" and t.text.strip()]
    context = earlier[-user_turns:] if user_turns > 0 else []
    return " ".join([question.strip(), *reversed(context)]).strip()
