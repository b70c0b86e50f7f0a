"""Fine-tuning datasets: examples → exactly the inference-time prompt → chat JSONL.

Examples come from a curated file the brand team writes, bot answers that got 👍 and were not
escalated, and answers an operator corrected. Each is rendered with the same prompt builder the
answer pipeline uses (rules + brand guide + the numbered sources for that question), so the model
learns to keep citing [n] from what retrieval hands it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from knowledge.errors import ConfigurationError
from knowledge.models import Answer, Chunk, Document
from knowledge.prompting import ContextSource, build_messages
from knowledge.redaction import redact

Retrieve = Callable[[str], list[ContextSource]]


@dataclass
class Example:
    question: str
    answer: str
    origin: str  # curated | thumbs-up | corrected
    sources: list[ContextSource] = field(default_factory=list)


@dataclass
class PreparedDataset:
    directory: Path
    dataset_hash: str
    train: int
    validation: int
    dropped_duplicates: int
    skipped: list[str]
    origins: dict[str, int]


def load_curated(path: Path) -> list[Example]:
    """JSONL of {"question": …, "ideal_answer": …}."""
    examples = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            examples.append(Example(str(raw["question"]), str(raw["ideal_answer"]), "curated"))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(f"{path}:{n}: expected {{\"question\", \"ideal_answer\"}} ({exc})") from exc
    return examples


def _sources_of(session: Session, row: Answer) -> list[ContextSource] | None:
    """Rebuild the sources an answer was given, numbered as its stored text cites them
    (the pipeline renumbers cited sources 1..k; other used sources follow). None if gone."""
    used = [r["chunk_id"] for r in row.retrieved if r.get("used")]
    chunks = {c.id: c for c in session.scalars(select(Chunk).where(Chunk.id.in_(used)))}
    if len(chunks) != len(used):
        return None  # the documents changed since; the example would not match its sources
    by_doc: dict[int, list[Chunk]] = {}
    for cid in used:
        by_doc.setdefault(chunks[cid].document_id, []).append(chunks[cid])
    cited = [c.get("document_pk") for c in row.citations]
    order = [pk for pk in cited if pk in by_doc] + [pk for pk in by_doc if pk not in cited]
    docs = {d.id: d for d in session.scalars(select(Document).where(Document.id.in_(order)))}
    return [
        ContextSource(n=i, document_id=pk, external_id=docs[pk].external_id, title=docs[pk].title, url=docs[pk].url,
                      updated_at=docs[pk].updated_at, stale_reason=None,
                      chunk_ids=[c.id for c in by_doc[pk]], texts=[c.content for c in by_doc[pk]])
        for i, pk in enumerate(order, 1)
    ]


def from_answers(session: Session) -> tuple[list[Example], list[str]]:
    """👍 answers (net positive votes, not escalated) and operator-corrected answers."""
    from knowledge.models import Feedback

    votes = (
        select(Feedback.answer_id, func.sum(Feedback.vote).label("score"))
        .group_by(Feedback.answer_id)
        .subquery()
    )
    rows = session.execute(
        select(Answer, votes.c.score)
        .outerjoin(votes, votes.c.answer_id == Answer.id)
        .where(
            (Answer.corrected_text.is_not(None))
            | ((votes.c.score > 0) & Answer.escalated.is_(False) & (Answer.status == "answered"))
        )
        .order_by(Answer.id)
    ).all()
    examples, skipped = [], []
    for row, _score in rows:
        sources = _sources_of(session, row)
        if sources is None:
            skipped.append(f"answer {row.id}: its sources changed since it was given")
            continue
        corrected = row.corrected_text is not None
        examples.append(Example(row.question, row.corrected_text if corrected else row.answer_text,
                                "corrected" if corrected else "thumbs-up", sources))
    return examples, skipped


_WORDS = re.compile(r"[a-z0-9]+")


def _shingles(text: str) -> set[str]:
    words = _WORDS.findall(text.lower())
    return {" ".join(words[i : i + 2]) for i in range(max(1, len(words) - 1))}


def dedupe(examples: Sequence[Example], *, threshold: float = 0.8) -> tuple[list[Example], int]:
    """Drop exact and near-duplicate questions (word-bigram Jaccard ≥ threshold); later origins
    (corrected, thumbs-up) are listed after curated ones, so the curated wording wins."""
    kept: list[tuple[Example, set[str]]] = []
    for ex in examples:
        sh = _shingles(ex.question)
        if any(len(sh & other) / max(1, len(sh | other)) >= threshold for _, other in kept):
            continue
        kept.append((ex, sh))
    return [ex for ex, _ in kept], len(examples) - len(kept)


def split(examples: Sequence[Example], *, validation_fraction: float, seed: str = "supportbot") -> tuple[list[Example], list[Example]]:
    """Deterministic split by question hash: an example never moves between splits across runs,
    and near-duplicates were removed first, so no question straddles both."""
    if len(examples) < 5 or validation_fraction <= 0:
        return list(examples), []
    ranked = sorted(examples, key=lambda e: hashlib.sha256(f"{seed}\x00{e.question.lower()}".encode()).hexdigest())
    n_val = max(1, round(len(ranked) * validation_fraction))
    return ranked[n_val:], ranked[:n_val]


def render(example: Example, *, refusal: str, brand_guide: str) -> dict:
    messages = build_messages(example.question, example.sources, refusal=refusal, brand_guide=brand_guide)
    return {"messages": [{"role": m.role, "content": m.content} for m in messages]
            + [{"role": "assistant", "content": example.answer}]}


def prepare_dataset(
    examples: Iterable[Example],
    out_dir: Path,
    *,
    retrieve: Retrieve,
    refusal: str,
    brand_guide: str,
    validation_fraction: float = 0.2,
    scrub_kinds: tuple[str, ...] = ("email", "phone", "token", "card"),
    skipped: Sequence[str] = (),
) -> PreparedDataset:
    """Scrub, dedupe, attach sources (retrieved now for curated examples), split and write
    `train.jsonl`, `validation.jsonl` and `manifest.json`."""
    items = []
    for ex in examples:
        ex.question, ex.answer = redact(ex.question, kinds=scrub_kinds), redact(ex.answer, kinds=scrub_kinds)
        if not ex.sources:
            ex.sources = retrieve(ex.question)
        for source in ex.sources:
            source.texts = [redact(t, kinds=scrub_kinds) for t in source.texts]
        items.append(ex)
    unique, dropped = dedupe(items)
    train, validation = split(unique, validation_fraction=validation_fraction)
    out_dir.mkdir(parents=True, exist_ok=True)
    blobs = {}
    for name, part in (("train.jsonl", train), ("validation.jsonl", validation)):
        lines = [json.dumps(render(ex, refusal=refusal, brand_guide=brand_guide), ensure_ascii=False) for ex in part]
        blobs[name] = ("\n".join(lines) + "\n" if lines else "").encode()
        (out_dir / name).write_bytes(blobs[name])
    digest = hashlib.sha256(blobs["train.jsonl"] + b"\x00" + blobs["validation.jsonl"]).hexdigest()
    origins: dict[str, int] = {}
    for ex in unique:
        origins[ex.origin] = origins.get(ex.origin, 0) + 1
    result = PreparedDataset(out_dir, digest, len(train), len(validation), dropped, list(skipped), origins)
    (out_dir / "manifest.json").write_text(json.dumps({
        "dataset_hash": digest, "train": len(train), "validation": len(validation),
        "dropped_duplicates": dropped, "origins": origins, "skipped": list(skipped),
        "validation_questions": [ex.question for ex in validation],
    }, indent=2), encoding="utf-8")
    return result


def dataset_hash(directory: Path) -> str:
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        raise ConfigurationError(f"{directory} has no manifest.json; run `supportbot finetune prepare` first.")
    return json.loads(manifest.read_text(encoding="utf-8"))["dataset_hash"]

