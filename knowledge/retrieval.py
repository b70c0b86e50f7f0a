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
        SELECT c.id, c.document_id, row_number() OVER (ORDER BY {vec} <=> CAST(:qvec AS vector({dim}))) AS rank,
               {vec} <=> CAST(:qvec AS vector({dim})) AS distance
        FROM chunks c JOIN documents d ON d.id = c.document_id
        WHERE {where}
        ORDER BY {vec} <=> CAST(:qvec AS vector({dim}))
        LIMIT :pool)"""


# websearch_to_tsquery ANDs every word, which almost never matches a natural-language question. We
# keep its parsing (quotes, stemming, stop words), take its lexemes, drop those that occur in more
# than MAX_DF of all chunks (ts_rank has no IDF, so corpus-wide words like "device" or "tap" would
# otherwise decide the ranking) and OR the rest. If every lexeme is that common, all are kept.
MAX_DF = 0.2
LEXICAL_POOL = 20
LEXICAL_GATE = 0.2
_LEXEMES = r"""SELECT DISTINCT m[1] AS lexeme
        FROM regexp_matches(websearch_to_tsquery('english', :qtext)::text, '''([^'']+)''', 'g') AS m"""


def _keyword_cte(where: str, gate: str = "") -> str:
    rank = f"ts_rank('{TS_WEIGHTS}', c.tsv, q.q, 1)"
    return f"""terms AS (
        {_LEXEMES}),
    informative AS (
        SELECT t.lexeme FROM terms t LEFT JOIN term_stats st ON st.word = t.lexeme
        WHERE coalesce(st.ndoc, 0) <= :max_df * coalesce(st.total, 1)),
    q AS (
        SELECT to_tsquery('simple', coalesce(
            (SELECT string_agg(quote_literal(lexeme), ' | ') FROM informative),
            (SELECT string_agg(quote_literal(lexeme), ' | ') FROM terms),
            '')) AS q),
    keyword AS (
        SELECT c.id, c.document_id, row_number() OVER (ORDER BY {rank} DESC) AS rank, {rank} AS lex
        FROM chunks c JOIN documents d ON d.id = c.document_id, q
        WHERE c.tsv @@ q.q AND {where}{gate}
        ORDER BY {rank} DESC
        LIMIT :lexical_pool)"""


def refresh_term_stats(session: Session) -> None:
    """Recompute per-lexeme chunk counts (after a sync changed chunks). CONCURRENTLY, so searches
    keep reading the old counts instead of waiting for the refresh."""
    session.execute(text("REFRESH MATERIALIZED VIEW CONCURRENTLY term_stats"))


def build_sql(mode: Mode, dim: int | None, where: str) -> str:
    ctes = []
    if mode in ("hybrid", "vector"):
        ctes.append(_semantic_cte(dim, where))
    else:
        ctes.append(
            "semantic AS (SELECT NULL::varchar AS id, NULL::int AS document_id, NULL::bigint AS rank,"
            " NULL::float AS distance WHERE false)"
        )
    if mode == "hybrid":
        # Only semantically plausible lexical matches vote: a keyword hit far less similar than the
        # best vector hit is a word-overlap accident ("advanced security" for "advanced camera").
        ctes.append(_keyword_cte(where, gate=(
            f" AND (c.embedding::vector({dim}) <=> CAST(:qvec AS vector({dim})))"
            " <= (SELECT min(distance) FROM semantic) + :lexical_gate"
        )))
    elif mode == "lexical":
        ctes.append(_keyword_cte(where))
    else:
        ctes.append(
            "keyword AS (SELECT NULL::varchar AS id, NULL::int AS document_id, NULL::bigint AS rank, NULL::real AS lex"
            " WHERE false)"
        )
    similarity = (
        f"1 - (c.embedding::vector({dim}) <=> CAST(:qvec AS vector({dim})))" if dim is not None else "NULL::float"
    )
    return f"""
    WITH {", ".join(ctes)},
    fused AS (
        SELECT coalesce(s.id, k.id) AS id, coalesce(s.document_id, k.document_id) AS document_id, k.lex,
               coalesce(1.0 / ({RRF_K} + s.rank), 0.0) + coalesce(:lexical_weight / ({RRF_K} + k.rank), 0.0)
                 AS chunk_score
        FROM semantic s FULL OUTER JOIN keyword k ON s.id = k.id
    ),
    -- RRF over *documents* (each list ranks a document by its best chunk): a document whose best
    -- vector chunk and best lexical chunk differ still gets credit from both lists.
    doc_fused AS (
        SELECT document_id,
               coalesce(1.0 / ({RRF_K} + sd.rank), 0.0) + coalesce(:lexical_weight / ({RRF_K} + kd.rank), 0.0)
                 AS doc_score
        FROM (SELECT document_id, dense_rank() OVER (ORDER BY min(rank)) AS rank FROM semantic GROUP BY document_id) sd
        FULL OUTER JOIN
             (SELECT document_id, dense_rank() OVER (ORDER BY min(rank)) AS rank FROM keyword GROUP BY document_id) kd
        USING (document_id)
    ),
    ranked AS (
        SELECT f.id, f.lex, f.document_id, f.chunk_score, df.doc_score,
               row_number() OVER (PARTITION BY f.document_id ORDER BY f.chunk_score DESC, f.id) AS doc_rank
        FROM fused f JOIN doc_fused df USING (document_id)
    )
    SELECT c.id AS chunk_id, d.id AS document_id, d.external_id, s.name AS source, d.title, d.url,
           d.updated_at, d.stale_reason, c.breadcrumb, c.content, r.lex, {similarity} AS similarity,
           -- a document's best chunk carries the document's fused score, its further chunks their own;
           -- stale documents stay findable but rank lower
           CASE WHEN r.doc_rank = 1 THEN r.doc_score ELSE r.chunk_score END
             * CASE WHEN d.stale_reason IS NULL THEN 1.0 ELSE :stale_factor END AS score
    FROM ranked r
    JOIN chunks c ON c.id = r.id
    JOIN documents d ON d.id = c.document_id
    JOIN sources s ON s.id = d.source_id
    WHERE r.doc_rank <= :per_doc
    ORDER BY score DESC, c.id
    LIMIT :k
    """


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form, for binding a vector as a parameter or writing it with COPY."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def search(
    session: Session,
    query: str,
    *,
    embedder: Embedder | None,
    k: int = 8,
    mode: Mode = "hybrid",
    filters: Filters = Filters(),
    max_per_doc: int = 2,
    stale_factor: float = 1.0,
    lexical_weight: float = LEXICAL_WEIGHT,
    pool: int | None = None,
) -> list[Hit]:
    """Top-k chunks for `query`. `embedder` may be None only in lexical mode."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    if not query.strip():
        return []
    params: dict = {
        "qtext": query, "k": k, "per_doc": max_per_doc, "pool": pool or max(4 * k, 40), "stale_factor": stale_factor,
        "max_df": MAX_DF, "lexical_weight": lexical_weight, "lexical_pool": LEXICAL_POOL,
        "lexical_gate": LEXICAL_GATE,
    }
    dim = None
    if embedder is not None:  # also in lexical mode: similarity feeds the answerability decision
        # Embed before the first SQL statement: no transaction sits open during a network call.
        params["qvec"] = vector_literal(embedder.embed_query(query))
        check_space(session, model=embedder.name, dim=embedder.dim)
        dim = embedder.dim
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
            meta={"stale_reason": r.stale_reason} if r.stale_reason else {},
        )
        for r in rows
    ]
