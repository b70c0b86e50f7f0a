"""Re-embed every stored document with the configured embedder (after switching embedders or
chunking settings), from the text already stored: no source is contacted, nothing is lost if one is
down."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from knowledge.chunking import chunk_document
from knowledge.embeddings import Embedder
from knowledge.models import Document
from knowledge.retrieval import refresh_term_stats
from knowledge.sync import copy_chunks, document_digest
from knowledge.vectors import claim_space, reset_space


def reembed_all(
    sessions: sessionmaker[Session],
    *,
    embedder: Embedder,
    chunk_tokens: int,
    chunk_overlap: int,
    batch_docs: int = 64,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Returns the number of documents re-embedded.

    The slow part (embedding) runs without holding locks, so answers keep flowing from the old
    vectors. The swap is one short transaction: TRUNCATE (not DELETE, whose dead rows an index
    build in the same transaction would still read, with their old dimension), COPY, new index.
    """
    with sessions() as session:
        docs = session.execute(
            select(Document.id, Document.source_id, Document.external_id, Document.title, Document.breadcrumb, Document.body)
            .where(Document.deleted_at.is_(None))
            .order_by(Document.id)
        ).all()
    rows: list[tuple[Any, ...]] = []
    digests: dict[int, str] = {}
    for start in range(0, len(docs), batch_docs):
        batch = docs[start : start + batch_docs]
        specs = [
            chunk_document(
                f"{d.source_id}:{d.external_id}", d.title, d.body,
                context=d.breadcrumb, max_tokens=chunk_tokens, overlap=chunk_overlap,
            )
            for d in batch
        ]
        vectors = iter(embedder.embed_documents([c.embedding_text for chunks in specs for c in chunks]))
        for d, chunks in zip(batch, specs):
            rows.extend((c.id, d.id, c.ord, c.breadcrumb, c.content, c.tokens, next(vectors)) for c in chunks)
            digests[d.id] = document_digest(
                d.title, d.breadcrumb, d.body, embedder=embedder.name,
                chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap,
            )
        if progress:
            progress(len(batch))
    with sessions.begin() as session:
        reset_space(session)
        session.execute(text("TRUNCATE chunks"))
        copy_chunks(session, rows)
        for doc_id, digest in digests.items():
            session.execute(update(Document).where(Document.id == doc_id).values(content_hash=digest))
        claim_space(session, model=embedder.name, dim=embedder.dim)
        refresh_term_stats(session)
    return len(docs)
