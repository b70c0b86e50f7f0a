"""Citation markers: parse [n] / [n, m] / [n][m], drop the ones that point to no provided source,
renumber the rest 1..k in order of first use, and tell refusals apart from answers."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

# [1]  [1, 2]  [1,2,3]  — but not Markdown links [text](url), whose URL may contain brackets too:
# the first alternative matches a whole link so it is kept untouched.
_MARKER = re.compile(r"(\[[^\]]*\]\([^)\s]*\))|\[(\d{1,2}(?:\s*,\s*\d{1,2})*)\](?!\()")
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([.,;:!?])")
_DOUBLE_SPACE = re.compile(r"[ \t]{2,}")


@dataclass(frozen=True)
class Verified:
    text: str  # with valid markers renumbered 1..k and invalid ones removed
    cited: list[int]  # original source numbers, in new-number order (new n = index + 1)
    invalid: list[int]  # marker numbers that pointed to no provided source
    markers_total: int


def verify(text: str, valid: Collection[int]) -> Verified:
    """Keep markers whose number is a provided source; renumber them by first appearance."""
    order: list[int] = []
    invalid: list[int] = []
    total = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal total
        if match.group(1):  # a Markdown link
            return match.group(1)
        kept = []
        for raw in match.group(2).split(","):
            n = int(raw)
            total += 1
            if n not in valid:
                invalid.append(n)
                continue
            if n not in order:
                order.append(n)
            new = order.index(n) + 1
            if new not in kept:
                kept.append(new)
        return "".join(f"[{n}]" for n in kept)

    cleaned = _MARKER.sub(replace, text)
    cleaned = _DOUBLE_SPACE.sub(" ", _SPACE_BEFORE_PUNCT.sub(r"\1", cleaned)).strip()
    return Verified(cleaned, order, invalid, total)


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower().replace("’", "'")).strip()


_REFUSAL_PHRASES = (
    "i don't have that information",
    "i do not have that information",
    "i don't know",
    "i do not know",
    "the sources do not",
    "the sources don't",
    "not in the sources",
    "no information about",
)


def is_refusal(text: str, *, refusal_text: str) -> bool:
    """The model followed the rule 'say you don't know': the configured reply or a close variant."""
    norm = _normalise(text)
    if not norm:
        return True
    configured = _normalise(refusal_text)
    if configured and (norm.startswith(configured[:40]) or configured in norm):
        return True
    return any(_normalise(p) in norm for p in _REFUSAL_PHRASES) and len(norm) < 400
