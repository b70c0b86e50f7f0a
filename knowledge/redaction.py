"""Scrub personal data and secrets from text that is stored (audit trail) or trained on."""

from __future__ import annotations

import re

_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    # secrets first: they can contain digit runs that look like phone numbers
    "token": re.compile(r"\b(?:sk-[A-Za-z0-9_-]{12,}|xox[abpr]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}|gh[pousr]_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16})\b"),
    "card": re.compile(r"\b(?:\d[ -]?){13,16}\b"),
    "phone": re.compile(r"(?<![\w/])\+?\d[\d ().-]{7,}\d(?![\w/])"),
}
KINDS = tuple(_PATTERNS)


def redact(text: str, *, kinds: tuple[str, ...] = KINDS) -> str:
    for kind in ("email", "token", "card", "phone"):
        if kind in kinds:
            text = _PATTERNS[kind].sub(f"[{kind}]", text)
    return text
