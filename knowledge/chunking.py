"""Heading-aware chunking.

A document is cut into sections at Markdown headings; each section is packed into chunks of about
`max_tokens` from whole sentences (a sentence is only cut when it alone exceeds the budget), with
`overlap` tokens of trailing sentences repeated at the start of the next chunk. Every chunk carries
its breadcrumb ("Title › Section › Subsection"), which is embedded and full-text weighted too.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

SEPARATOR = " › "
_TOKEN = re.compile(r"\w+|[^\w\s]")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^(```|~~~)")
# A sentence ends at . ! ? followed by space and something that can start a sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[*_`A-Z0-9])")


def count_tokens(text: str) -> int:
    """A cheap, deterministic estimate (words + punctuation); close to BPE/WordPiece counts for
    English prose and needs no tokenizer download."""
    return len(_TOKEN.findall(text))


@dataclass(frozen=True)
class ChunkSpec:
    id: str
    ord: int
    breadcrumb: str
    content: str
    tokens: int

    @property
    def embedding_text(self) -> str:
        return f"{self.breadcrumb}\n{self.content}"


@dataclass
class _Section:
    path: list[str]
    lines: list[str]


def _sections(title: str, body: str) -> list[_Section]:
    sections: list[_Section] = [_Section([], [])]
    stack: list[tuple[int, str]] = []
    in_fence = False
    for line in body.splitlines():
        if _FENCE.match(line.strip()):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match is None:
            sections[-1].lines.append(line)
            continue
        level, text = len(match.group(1)), match.group(2).strip()
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, text))
        # The page's own H1 usually repeats the title; keep it out of the breadcrumb.
        path = [t for _, t in stack if t.casefold() != title.casefold()]
        sections.append(_Section(path, []))
    return [s for s in sections if "\n".join(s.lines).strip()]


def _blocks(lines: list[str]) -> list[str]:
    """Paragraphs, list items and fenced code blocks, in order."""
    blocks: list[str] = []
    current: list[str] = []
    in_fence = False

    def flush() -> None:
        if current and "\n".join(current).strip():
            blocks.append("\n".join(current).strip())
        current.clear()

    for line in lines:
        stripped = line.strip()
        if _FENCE.match(stripped):
            if in_fence:
                current.append(line)
                flush()
            else:
                flush()
                current.append(line)
            in_fence = not in_fence
            continue
        if in_fence:
            current.append(line)
        elif not stripped:
            flush()
        elif re.match(r"^([-*+]|\d+[.)])\s+", stripped) or stripped.startswith("|"):
            flush()  # each list item / table row is its own unit
            blocks.append(stripped)
        else:
            current.append(stripped)
    flush()
    return blocks


def _units(block: str, max_tokens: int) -> list[str]:
    """Sentences of a block; a sentence over budget is cut at word boundaries."""
    if block.startswith(("```", "~~~")) or count_tokens(block) <= max_tokens:
        pieces = [block] if count_tokens(block) <= max_tokens else block.splitlines()
    else:
        pieces = _SENTENCE_END.split(block)
    units: list[str] = []
    for piece in pieces:
        if count_tokens(piece) <= max_tokens:
            units.append(piece)
            continue
        words, buf = piece.split(), []
        for word in words:
            buf.append(word)
            if count_tokens(" ".join(buf)) >= max_tokens:
                units.append(" ".join(buf))
                buf = []
        if buf:
            units.append(" ".join(buf))
    return units


def _pack(units: list[str], max_tokens: int, overlap: int) -> list[str]:
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 0
    for unit in units:
        n = count_tokens(unit)
        if current and size + n > max_tokens:
            chunks.append(current)
            # Carry trailing sentences forward so a fact split across the cut stays findable.
            carry: list[str] = []
            carried = 0
            for prev in reversed(current):
                t = count_tokens(prev)
                if carried + t > overlap or carried + t + n > max_tokens:
                    break
                carry.insert(0, prev)
                carried += t
            current, size = carry, carried
        current.append(unit)
        size += n
    if current:
        chunks.append(current)
    return ["\n".join(c) for c in chunks]


def chunk_document(
    doc_key: str, title: str, body: str, *, context: str | None = None, max_tokens: int = 200, overlap: int = 40
) -> list[ChunkSpec]:
    """Split a document into chunks. Same input → same chunks and ids."""
    specs: list[ChunkSpec] = []
    pending: list[tuple[list[str], list[str]]] = []  # (path, units) of small sections to merge
    for section in _sections(title, body):
        units = [u for b in _blocks(section.lines) for u in _units(b, max_tokens)]
        pending.append((section.path, units))
    # Merge a tiny section into the next one of the same parent so headings with one line of
    # text do not become chunks too small to carry meaning.
    merged: list[tuple[list[str], list[str]]] = []
    for path, units in pending:
        if merged and count_tokens(" ".join(merged[-1][1])) < max_tokens // 4 and merged[-1][0][:-1] == path[:-1]:
            prev_path, prev_units = merged[-1]
            heading = prev_path[-1] if prev_path else ""
            merged[-1] = (path, ([heading] if heading else []) + prev_units + units)
        else:
            merged.append((path, units))
    for path, units in merged:
        breadcrumb = SEPARATOR.join([*([context] if context else []), title, *path])
        for text in _pack(units, max_tokens, overlap):
            ord_ = len(specs)
            digest = hashlib.sha1(f"{doc_key}\x00{ord_}\x00{breadcrumb}\x00{text}".encode()).hexdigest()
            specs.append(ChunkSpec(digest[:32], ord_, breadcrumb, text, count_tokens(text)))
    if not specs and title.strip():
        digest = hashlib.sha1(f"{doc_key}\x000\x00{title}".encode()).hexdigest()
        specs.append(ChunkSpec(digest[:32], 0, title, title, count_tokens(title)))
    return specs
