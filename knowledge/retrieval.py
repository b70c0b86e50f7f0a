"""Hybrid retrieval: pgvector HNSW (cosine) + PostgreSQL full text, fused by reciprocal rank fusion
in one SQL statement (after pgvector-python's hybrid search example)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from knowledge.embeddings import Embedder
from knowledge.vectors import check_space

Mode = Literal["hybrid", "vector", "lexical"]
MODES: tuple[Mode, ...] = ("hybrid", "vector", "lexical")
RRF_K = 60
# Lexical ranks count half as much as vector ranks in the fusion, and body words count more than
# title words (ts_rank weights are {D, C, B, A}: body is D, breadcrumb A). Tuned on ../shared/eval;
# equal weights let a weaker lexical ranking reorder the top of a strong vector ranking.
LEXICAL_WEIGHT = 0.5
TS_WEIGHTS = "{0.4,0.2,0.4,0.7}"


@dataclass(frozen=True)
class Filters:
    sources: Sequence[str] = ()
    locales: Sequence[str] = ()
    labels: Sequence[str] = ()  # a document matches when it has any of these labels
    include_drafts: bool = False
    include_internal: bool = False


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    document_id: int
    external_id: str
    source: str
    title: str
    url: str | None
    updated_at: datetime | None
    breadcrumb: str
    text: str
    score: float
    similarity: float | None  # cosine similarity of the query and this chunk (None in lexical mode)
    lexical: float | None  # ts_rank when the chunk matched the full-text query
    meta: dict = field(default_factory=dict, compare=False)


def _where(filters: Filters) -> tuple[str, dict]:
    clauses = ["d.deleted_at IS NULL"]
    params: dict = {}
    if not filters.include_drafts:
        clauses.append("d.status = 'published'")
    if not filters.include_internal:
        clauses.append("NOT d.internal")
    if filters.sources:
        clauses.append("d.source_id IN (SELECT id FROM sources WHERE name = ANY(:f_sources))")
        params["f_sources"] = list(filters.sources)
    if filters.locales:
        clauses.append("d.locale = ANY(:f_locales)")
        params["f_locales"] = list(filters.locales)
    if filters.labels:
        clauses.append("d.labels && CAST(:f_labels AS text[])")
        params["f_labels"] = list(filters.labels)
    return " AND ".join(clauses), params


def _semantic_cte(dim: int, where: str) -> str:
    vec = f"c.embedding::vector({dim})"
    return f"""semantic AS (
        SELECT c.id, row_number() OVER (ORDER BY {vec} <=> CAST(:qvec AS vector({dim}))) AS rank
        FROM chunks c JOIN documents d ON d.id = c.document_id
        WHERE {where}
        ORDER BY {vec} <=> CAST(:qvec AS vector({dim}))
        LIMIT :pool)"""


# websearch_to_tsquery ANDs every word, which almost never matches a natural-language question; we
# keep its parsing (quotes, -negation, stemming, stop words) and turn its ANDs into ORs, letting
# ts_rank reward chunks that match more (and title-weighted) terms.
_TSQUERY = "to_tsquery('english', replace(websearch_to_tsquery('english', :qtext)::text, ' & ', ' | '))"


def _keyword_cte(where: str) -> str:
    rank = f"ts_rank('{TS_WEIGHTS}', c.tsv, q, 1)"
    return f"""keyword AS (
        SELECT c.id, row_number() OVER (ORDER BY {rank} DESC) AS rank, {rank} AS lex
        FROM chunks c JOIN documents d ON d.id = c.document_id, {_TSQUERY} q
        WHERE c.tsv @@ q AND {where}
        ORDER BY {rank} DESC
        LIMIT :pool)"""


def build_sql(mode: Mode, dim: int | None, where: str, *, lexical_weight: float = LEXICAL_WEIGHT) -> str:
    ctes = []
    if mode in ("hybrid", "vector"):
        ctes.append(_semantic_cte(dim, where))
    else:
        ctes.append("semantic AS (SELECT NULL::varchar AS id, NULL::bigint AS rank WHERE false)")
    if mode in ("hybrid", "lexical"):
        ctes.append(_keyword_cte(where))
    else:
        ctes.append("keyword AS (SELECT NULL::varchar AS id, NULL::bigint AS rank, NULL::real AS lex WHERE false)")
    similarity = (
        f"1 - (c.embedding::vector({dim}) <=> CAST(:qvec AS vector({dim})))" if dim is not None else "NULL::float"
    )
    return f"""
    WITH {", ".join(ctes)},
    fused AS (
        SELECT coalesce(s.id, k.id) AS id,
               coalesce(1.0 / ({RRF_K} + s.rank), 0.0) + coalesce({float(lexical_weight)} / ({RRF_K} + k.rank), 0.0) AS score,
               k.lex
        FROM semantic s FULL OUTER JOIN keyword k ON s.id = k.id
    ),
    ranked AS (
        SELECT f.id, f.score, f.lex, c.document_id,
               row_number() OVER (PARTITION BY c.document_id ORDER BY f.score DESC) AS doc_rank
        FROM fused f JOIN chunks c ON c.id = f.id
    )
    SELECT c.id AS chunk_id, d.id AS document_id, d.external_id, s.name AS source, d.title, d.url,
           d.updated_at, c.breadcrumb, c.content, r.score, r.lex, {similarity} AS similarity
    FROM ranked r
    JOIN chunks c ON c.id = r.id
    JOIN documents d ON d.id = c.document_id
    JOIN sources s ON s.id = d.source_id
    WHERE r.doc_rank <= :per_doc
    ORDER BY r.score DESC, c.id
    LIMIT :k
    """


def search(
    session: Session,
    query: str,
    *,
    embedder: Embedder | None,
    k: int = 8,
    mode: Mode = "hybrid",
    filters: Filters = Filters(),
    max_per_doc: int = 2,
    pool: int | None = None,
) -> list[Hit]:
    """Top-k chunks for `query`. `embedder` may be None only in lexical mode."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    if not query.strip():
        return []
    params: dict = {"qtext": query, "k": k, "per_doc": max_per_doc, "pool": pool or max(4 * k, 40)}
    dim = None
    if embedder is not None:  # also in lexical mode: similarity feeds the answerability decision
        check_space(session, model=embedder.name, dim=embedder.dim)
        dim = embedder.dim
        params["qvec"] = "[" + ",".join(repr(float(x)) for x in embedder.embed_query(query)) + "]"
    elif mode != "lexical":
        raise ValueError(f"{mode} search needs an embedder")
    where, where_params = _where(filters)
    params |= where_params
    rows = session.execute(text(build_sql(mode, dim, where)), params)
    return [
        Hit(
            chunk_id=r.chunk_id,
            document_id=r.document_id,
            external_id=r.external_id,
            source=r.source,
            title=r.title,
            url=r.url,
            updated_at=r.updated_at,
            breadcrumb=r.breadcrumb,
            text=r.content,
            score=float(r.score),
            similarity=None if r.similarity is None else float(r.similarity),
            lexical=None if r.lex is None else float(r.lex),
        )
        for r in rows
    ]
