"""Golden-set evaluation of retrieval (format: ../shared/eval/README.md)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from knowledge.catalog import add_source
from knowledge.embeddings import Embedder
from knowledge.errors import ConfigurationError
from knowledge.models import Source
from knowledge.retrieval import Filters, Mode, search
from knowledge.rewrite import Turn, fold_history
from knowledge.sync import SyncReport, sync_source


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    history: tuple[Turn, ...]
    gold_doc_ids: tuple[str, ...]
    answerable: bool
    reference_answer: str = ""


@dataclass(frozen=True)
class GoldenSet:
    name: str
    docs_dir: Path
    questions: tuple[Question, ...] = field(repr=False)


def load_golden_set(path: str | Path) -> GoldenSet:
    root = Path(path).expanduser()
    docs, questions_file = root / "docs", root / "questions.jsonl"
    if not docs.is_dir() or not questions_file.is_file():
        raise ConfigurationError(f"{root} is not a golden set: it needs docs/ and questions.jsonl.")
    questions = []
    for n, line in enumerate(questions_file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            questions.append(
                Question(
                    id=str(raw["id"]),
                    question=raw["question"],
                    history=tuple(Turn(t["role"], t["text"]) for t in raw.get("history") or ()),
                    gold_doc_ids=tuple(raw.get("gold_doc_ids") or ()),
                    answerable=bool(raw.get("answerable", bool(raw.get("gold_doc_ids")))),
                    reference_answer=raw.get("reference_answer") or "",
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(f"{questions_file}:{n}: not a golden-set question ({exc}).") from exc
    return GoldenSet(root.name, docs, tuple(questions))


QueryBuilder = Callable[[Question], str]


def default_query(q: Question) -> str:
    return fold_history(q.question, q.history)


@dataclass
class RetrievalScores:
    questions: int
    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    mrr_at_10: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "recall@1": round(self.recall_at_1, 4),
            "recall@5": round(self.recall_at_5, 4),
            "recall@10": round(self.recall_at_10, 4),
            "mrr@10": round(self.mrr_at_10, 4),
            "questions": self.questions,
        }


def score_rankings(rankings: Sequence[tuple[Sequence[str], Sequence[str]]]) -> RetrievalScores:
    """`rankings`: (ranked doc ids, gold doc ids) per question. Recall@k counts a question as
    found when any gold document is in the top k (the sets have one gold doc for most questions)."""
    n = len(rankings)
    if n == 0:
        return RetrievalScores(0, 0.0, 0.0, 0.0, 0.0)
    hits = {1: 0, 5: 0, 10: 0}
    rr = 0.0
    for ranked, gold in rankings:
        gold_set = set(gold)
        first = next((i for i, doc in enumerate(ranked[:10], 1) if doc in gold_set), None)
        if first is None:
            continue
        rr += 1.0 / first
        for k in hits:
            hits[k] += first <= k
    return RetrievalScores(n, hits[1] / n, hits[5] / n, hits[10] / n, rr / n)


def evaluate_retrieval(
    session: Session,
    golden: GoldenSet,
    *,
    embedder: Embedder | None,
    mode: Mode,
    source: str,
    k: int = 10,
    query_builder: QueryBuilder = default_query,
) -> RetrievalScores:
    """Retrieval metrics over the answerable questions, ranking distinct documents."""
    rankings = []
    for q in golden.questions:
        if not q.answerable or not q.gold_doc_ids:
            continue
        hits = search(
            session,
            query_builder(q),
            embedder=None if mode == "lexical" else embedder,
            k=k,
            mode=mode,
            filters=Filters(sources=[source]),
            max_per_doc=1,
        )
        rankings.append(([h.external_id for h in hits], q.gold_doc_ids))
    return score_rankings(rankings)


def golden_source_name(golden: GoldenSet) -> str:
    return f"eval-{golden.name}"


def prepare_golden_source(
    sessions: sessionmaker[Session],
    golden: GoldenSet,
    *,
    embedder: Embedder,
    chunk_tokens: int,
    chunk_overlap: int,
    progress: Callable[[str], None] | None = None,
) -> SyncReport:
    """Sync a golden set's docs as a folder source (incremental, so re-runs cost nothing)."""
    from knowledge.sources import open_source

    name = golden_source_name(golden)
    with sessions.begin() as session:
        row = session.scalar(select(Source).where(Source.name == name))
        if row is None:
            add_source(session, name, "folder", {"path": str(golden.docs_dir.resolve())})
        elif row.options.get("path") != str(golden.docs_dir.resolve()):
            row.options = {"path": str(golden.docs_dir.resolve())}
    return sync_source(
        sessions, name, embedder=embedder,
        open_source=lambda r: open_source(r.kind, r.options, secrets={}),
        trigger="eval", chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap, progress=progress,
    )
