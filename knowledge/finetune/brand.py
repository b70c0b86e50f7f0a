"""Brand-guide rules that can be checked mechanically: banned phrases, the required sign-off and
reading level. Parsed from the operator's Markdown guide (`## Banned phrases`, `## Sign-off`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SECTION = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)
_BULLET = re.compile(r"^\s*[-*]\s+[\"“']?(.+?)[\"”']?\s*$", re.MULTILINE)
_WORD = re.compile(r"[A-Za-z]+")
_SENTENCE = re.compile(r"[.!?]+(?:[ \t]|$)|\n+")  # list items and lines end sentences too
_VOWELS = re.compile(r"[aeiouy]+")


@dataclass(frozen=True)
class BrandRules:
    banned: tuple[str, ...] = ()
    sign_off: str | None = None
    max_grade: float = 9.0  # support answers should read at about 8th–9th grade


def _sections(markdown: str) -> dict[str, str]:
    parts = _SECTION.split(markdown)
    return {parts[i].strip().lower(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def parse_brand_guide(markdown: str, *, max_grade: float = 9.0) -> BrandRules:
    sections = _sections(markdown)
    banned = next((v for k, v in sections.items() if k.startswith("banned")), "")
    sign = next((v for k, v in sections.items() if k.startswith("sign")), "")
    # The sign-off is the section's line that looks like one: short, not an instruction sentence.
    candidates = [
        line.strip().strip("`") for line in sign.splitlines()
        if line.strip() and len(line.strip()) <= 60 and not line.strip().endswith((".", ":"))
    ]
    return BrandRules(tuple(_BULLET.findall(banned)), candidates[0] if candidates else None, max_grade)


def _syllables(word: str) -> int:
    """Vowel-group count with a silent-e rule: within a syllable or so of dictionary counts,
    which is all a readability grade needs (and it needs no downloaded dictionary)."""
    word = word.lower()
    n = len(_VOWELS.findall(word))
    if word.endswith("e") and not word.endswith(("le", "ee")) and n > 1:
        n -= 1
    return max(1, n)


def reading_grade(text: str) -> float:
    """Flesch–Kincaid grade level of the prose (citations and Markdown symbols ignored)."""
    prose = re.sub(r"\[\d+\]|[*_`>#|]", " ", text)
    words = _WORD.findall(prose)
    if not words:
        return 0.0
    sentences = max(1, len([s for s in _SENTENCE.split(prose) if _WORD.search(s)]))
    syllables = sum(_syllables(w) for w in words)
    return round(0.39 * len(words) / sentences + 11.8 * syllables / len(words) - 15.59, 2)


@dataclass
class BrandCheck:
    banned_found: list[str] = field(default_factory=list)
    has_sign_off: bool = True
    grade: float = 0.0
    readable: bool = True

    @property
    def ok(self) -> bool:
        return not self.banned_found and self.has_sign_off and self.readable


def check(text: str, rules: BrandRules) -> BrandCheck:
    lower = text.lower()
    grade = reading_grade(text)
    return BrandCheck(
        banned_found=[p for p in rules.banned if p.lower() in lower],
        has_sign_off=rules.sign_off is None or text.rstrip().endswith(rules.sign_off),
        grade=grade,
        readable=grade <= rules.max_grade,
    )
