"""Extractive answers: the best sentences of the best passages, quoted with their citations.

Used when no chat model is configured (the offline demo) and as the last step of the fallback
chain, so the bot is never silent. Clearly labelled as excerpts, never paraphrased.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from knowledge.prompting import ContextSource

LABEL = "Here is what the help center says (excerpts):"
_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(*])|\n+")
_LIST_ITEM = re.compile(r"^([-*+]|\d+[.)])\s")
_LIST_ITEMS = 10
_STOP = frozenset(
    "a an and are as at be by can do does for from how i in is it me my of on or our the this to we what when"
    " where which who why will with you your".split()
)


def _words(text: str) -> set[str]:
    return {w[:6] for w in _WORD.findall(text.lower()) if w not in _STOP}


def best_sentences(question: str, text: str, *, limit: int = 3) -> str:
    """The sentences of `text` that share most words with the question, in their original order."""
    sentences = [s.strip() for s in _SENTENCE.split(text) if len(s.strip()) > 2]
    if len(sentences) <= limit:
        return " ".join(sentences)
    wanted = _words(question)
    scored = sorted(range(len(sentences)), key=lambda i: (-len(wanted & _words(sentences[i])), i))
    keep = set(scored[:limit])
    # A sentence that introduces a list ("…providers:") is useless without the items after it.
    for i in sorted(keep):
        if sentences[i].endswith(":"):
            j = i + 1
            while j < len(sentences) and j - i <= _LIST_ITEMS and _LIST_ITEM.match(sentences[j]):
                keep.add(j)
                j += 1
    return " … ".join(" ".join(sentences[i] for i in run) for run in _runs(sorted(keep)))


def _runs(indices: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for i in indices:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def extractive_answer(question: str, sources: Sequence[ContextSource], *, max_sources: int = 3) -> str:
    lines = [LABEL, ""]
    for source in list(sources)[:max_sources]:
        excerpt = best_sentences(question, source.texts[0] if source.texts else "")
        excerpt = " ".join(excerpt.split())
        lines.append(f"> {excerpt} [{source.n}]")
        lines.append("")
    return "\n".join(lines).strip()
