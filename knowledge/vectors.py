"""The stored vector space: which embedder produced the vectors, and the HNSW index for its size.

The `chunks.embedding` column has no fixed dimension, so switching embedders is a re-embed, not a
schema change. The HNSW index is an expression index on `embedding::vector(dim)`; queries use the
same expression so the planner can use it.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from knowledge.errors import EmbeddingMismatchError
from knowledge.models import EmbeddingSpace

INDEX_PREFIX = "ix_chunks_embedding_hnsw"


def index_name(dim: int) -> str:
    return f"{INDEX_PREFIX}_{dim}"


def stored_space(session: Session) -> EmbeddingSpace | None:
    return session.get(EmbeddingSpace, 1)


def check_space(session: Session, *, model: str, dim: int) -> None:
    """Refuse to mix vectors of two embedders."""
    space = stored_space(session)
    if space is not None and (space.model != model or space.dim != dim):
        raise EmbeddingMismatchError(
            f"The knowledge base was embedded with {space.model} ({space.dim} dimensions) but the configured "
            f"embedder is {model} ({dim} dimensions). Run `supportbot reindex --reembed` to re-embed every "
            "document with the configured embedder."
        )


def claim_space(session: Session, *, model: str, dim: int) -> None:
    """Record the embedder and make sure the HNSW index for its dimension exists."""
    space = stored_space(session)
    if space is None:
        session.add(EmbeddingSpace(id=1, model=model, dim=dim))
    else:
        space.model, space.dim = model, dim
    ensure_index(session, dim)


def ensure_index(session: Session, dim: int) -> None:
    name = index_name(dim)
    existing = session.execute(
        text("SELECT indexname FROM pg_indexes WHERE tablename = 'chunks' AND indexname LIKE :p"),
        {"p": f"{INDEX_PREFIX}%"},
    ).scalars()
    for other in existing:
        if other != name:
            session.execute(text(f'DROP INDEX IF EXISTS "{other}"'))
    session.execute(
        text(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON chunks '
            f"USING hnsw ((embedding::vector({int(dim)})) vector_cosine_ops)"
        )
    )


def reset_space(session: Session) -> None:
    """Forget the stored vectors' embedder and drop their index (a full re-embed rewrites every
    chunk; the index of the old dimension would reject vectors of the new one)."""
    session.execute(text("DELETE FROM embedding_space"))
    for name in session.execute(
        text("SELECT indexname FROM pg_indexes WHERE tablename = 'chunks' AND indexname LIKE :p"),
        {"p": f"{INDEX_PREFIX}%"},
    ).scalars().all():
        session.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
