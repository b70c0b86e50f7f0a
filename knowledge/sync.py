"""Incremental, deletion-safe sync of one source into the knowledge base.

Work is committed in batches of documents (each document's old chunks are replaced in the same
transaction as its new ones), so a long sync makes durable progress and a crash loses at most one
batch. The run record is written first and finished last, whatever happens in between.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from knowledge.chunking import ChunkSpec, chunk_document
from knowledge.embeddings import Embedder
from knowledge.errors import NotFoundError, SupportBotError
from knowledge.models import Chunk, Document, Source, SyncRun
from knowledge.retrieval import refresh_term_stats, vector_literal
from knowledge.sources.base import (
    DocumentError,
    DocumentRef,
    NotModified,
    SourceDocument,
)
from knowledge.sources.base import Source as SourceConnector
from knowledge.text import content_hash, normalise_body
from knowledge.vectors import check_space, claim_space

log = logging.getLogger(__name__)

OpenSource = Callable[[Source], SourceConnector]
Progress = Callable[[str], None]


@dataclass
class SyncReport:
    run_id: int
    source: str
    status: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    listing_complete: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "source": self.source,
            "status": self.status,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "failed": self.failed,
            "listing_complete": self.listing_complete,
            "errors": self.errors,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


@dataclass
class _Known:
    id: int
    external_id: str
    version: str | None
    hash: str
    deleted: bool
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Pending:
    doc: SourceDocument
    ref: str
    version: str | None
    hash: str
    chunks: list[ChunkSpec]
    known: _Known | None


class _Run:
    """State of one sync run; the public entry point is `sync_source`."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        source_row: Source,
        connector: SourceConnector,
        report: SyncReport,
        *,
        embedder: Embedder,
        chunk_tokens: int,
        chunk_overlap: int,
        batch_chunks: int,
        progress: Progress | None,
    ) -> None:
        self.sessions = sessions
        self.source_id = source_row.id
        self.connector = connector
        self.report = report
        self.embedder = embedder
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap
        self.batch_chunks = batch_chunks
        self.progress = progress or (lambda _event: None)
        self.pending: list[_Pending] = []
        self.metadata: list[dict[str, Any]] = []  # unchanged documents' fresh metadata, written in bulk
        self.seen_ids: set[int] = set()
        self.seen_external: set[str] = set()

    def known_documents(self) -> dict[str, _Known]:
        with self.sessions() as session:
            rows = session.execute(
                select(
                    Document.id,
                    Document.source_ref,
                    Document.external_id,
                    Document.source_version,
                    Document.content_hash,
                    Document.deleted_at,
                    Document.meta,
                ).where(Document.source_id == self.source_id)
            )
            return {
                r.source_ref: _Known(r.id, r.external_id, r.source_version, r.content_hash, r.deleted_at is not None, r.meta or {})
                for r in rows
            }

    def run(self, *, since: datetime | None, full: bool) -> None:
        known = self.known_documents()
        listing = self.connector.listing(since=None if full else since)
        for ref in listing.refs:
            prior = known.get(ref.external_id)
            if not full and prior and not prior.deleted and ref.version and ref.version == prior.version:
                self.seen_ids.add(prior.id)
                self.seen_external.add(prior.external_id)
                self.report.unchanged += 1
                self.progress("unchanged")
                continue
            if not full and prior and not prior.deleted:
                # Lets the connector ask "changed since?" (ETag…): a shortcut like the version check.
                ref = replace(ref, previous=prior.meta)
            try:
                doc = self.connector.fetch(ref)
                self.consider(doc, ref.external_id, ref.version, prior)
            except NotModified:
                self.not_modified(ref, prior)
            except DocumentError as exc:
                if prior:  # a document we cannot read now is not a deleted document
                    self.seen_ids.add(prior.id)
                self.fail(ref.external_id, str(exc))
        self.flush()
        self.flush_metadata()
        self.report.listing_complete = True
        if listing.full:
            self.tombstone(known)

    def not_modified(self, ref: DocumentRef, prior: _Known | None) -> None:
        if prior is None or ref.previous is None:
            self.fail(ref.external_id, "the source answered 'not modified' but no copy is stored")
            return
        self.seen_ids.add(prior.id)
        self.seen_external.add(prior.external_id)
        if ref.version != prior.version:  # so the next listing can skip it without a request
            with self.sessions.begin() as session:
                session.execute(update(Document).where(Document.id == prior.id).values(source_version=ref.version))
        self.report.unchanged += 1
        self.progress("unchanged")

    def fail(self, ref: str, reason: str) -> None:
        log.warning("skipped document %s: %s", ref, reason)
        self.report.failed += 1
        self.report.errors.append({"document": ref, "reason": reason})
        self.progress("failed")

    def consider(self, doc: SourceDocument, ref: str, version: str | None, prior: _Known | None) -> None:
        if doc.external_id in self.seen_external:
            raise DocumentError(f"duplicate document id {doc.external_id!r} (already used by another file)")
        self.seen_external.add(doc.external_id)
        doc.body = normalise_body(doc.body)
        if not doc.body:
            raise DocumentError("empty document (no text)")
        digest = document_digest(
            doc.title, doc.breadcrumb, doc.body, embedder=self.embedder.name,
            chunk_tokens=self.chunk_tokens, chunk_overlap=self.chunk_overlap,
        )
        if prior:
            self.seen_ids.add(prior.id)
        if prior and not prior.deleted and prior.hash == digest:
            self.write_metadata(doc, ref, version, prior.id)
            self.report.unchanged += 1
            self.progress("unchanged")
            return
        chunks = chunk_document(
            f"{self.source_id}:{doc.external_id}",
            doc.title,
            doc.body,
            context=doc.breadcrumb,
            max_tokens=self.chunk_tokens,
            overlap=self.chunk_overlap,
        )
        self.pending.append(_Pending(doc, ref, version, digest, chunks, prior))
        if sum(len(p.chunks) for p in self.pending) >= self.batch_chunks:
            self.flush()

    def write_metadata(self, doc: SourceDocument, ref: str, version: str | None, doc_id: int) -> None:
        self.metadata.append({"id": doc_id, **_document_values(doc, ref, version)})
        if len(self.metadata) >= 500:
            self.flush_metadata()

    def flush_metadata(self) -> None:
        if self.metadata:
            with self.sessions.begin() as session:
                session.execute(update(Document), self.metadata)  # bulk UPDATE by primary key
            self.metadata.clear()

    def flush(self) -> None:
        if not self.pending:
            return
        texts = [c.embedding_text for p in self.pending for c in p.chunks]
        vectors = iter(self.embedder.embed_documents(texts))
        with self.sessions.begin() as session:
            rows: list[tuple[Any, ...]] = []
            for item in self.pending:
                values = _document_values(item.doc, item.ref, item.version) | {
                    "content_hash": item.hash,
                    "body": item.doc.body,
                    "deleted_at": None,
                }
                if item.known:
                    doc_id = item.known.id
                    session.execute(update(Document).where(Document.id == doc_id).values(**values))
                    session.execute(delete(Chunk).where(Chunk.document_id == doc_id))
                    if item.known.deleted:
                        self.report.added += 1
                    else:
                        self.report.updated += 1
                else:
                    doc_id = session.execute(
                        Document.__table__.insert()
                        .values(source_id=self.source_id, **values)
                        .returning(Document.id)
                    ).scalar_one()
                    self.report.added += 1
                self.seen_ids.add(doc_id)
                for chunk in item.chunks:
                    rows.append((chunk.id, doc_id, chunk.ord, chunk.breadcrumb, chunk.content, chunk.tokens, next(vectors)))
                self.progress("changed")
            copy_chunks(session, rows)
            claim_space(session, model=self.embedder.name, dim=self.embedder.dim)
        self.pending.clear()

    def tombstone(self, known: dict[str, _Known]) -> None:
        gone = [k.id for k in known.values() if k.id not in self.seen_ids and not k.deleted]
        if not gone:
            return
        with self.sessions.begin() as session:
            session.execute(
                update(Document).where(Document.id.in_(gone)).values(deleted_at=datetime.now(timezone.utc))
            )
            # Tombstoned documents keep their row (audit) but leave retrieval entirely.
            session.execute(delete(Chunk).where(Chunk.document_id.in_(gone)))
        self.report.deleted += len(gone)


def document_digest(
    title: str, breadcrumb: str | None, body: str, *, embedder: str, chunk_tokens: int, chunk_overlap: int
) -> str:
    """What decides re-chunking and re-embedding: the text, and how it is chunked and embedded."""
    return content_hash(title, breadcrumb, body, embedder, chunk_tokens, chunk_overlap)


def _document_values(doc: SourceDocument, ref: str, version: str | None) -> dict[str, Any]:
    return {
        "external_id": doc.external_id,
        "title": doc.title,
        "url": doc.url,
        "locale": doc.locale,
        "status": doc.status,
        "internal": doc.internal,
        "labels": doc.labels,
        "owner": doc.owner,
        "breadcrumb": doc.breadcrumb,
        "updated_at": doc.updated_at,
        "meta": doc.meta,
        "source_ref": ref,
        "source_version": version,
        "synced_at": datetime.now(timezone.utc),
    }


def copy_chunks(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """Bulk-insert chunk rows with COPY (an order of magnitude faster than INSERTs for vectors)."""
    if not rows:
        return
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cur:
        with cur.copy(
            "COPY chunks (id, document_id, ord, breadcrumb, content, tokens, embedding) FROM STDIN"
        ) as copy:
            for *head, vector in rows:
                copy.write_row((*head, vector_literal(vector)))


def sync_source(
    sessions: sessionmaker[Session],
    name: str,
    *,
    embedder: Embedder,
    open_source: OpenSource,
    full: bool = False,
    trigger: str = "cli",
    chunk_tokens: int = 200,
    chunk_overlap: int = 40,
    batch_chunks: int = 256,
    progress: Progress | None = None,
) -> SyncReport:
    """Sync one source. Never raises for source trouble: the returned report says what happened."""
    with sessions.begin() as session:
        row = session.scalar(select(Source).where(Source.name == name))
        if row is None:
            raise NotFoundError(f"No source named {name!r}. See `supportbot sources list`.")
        check_space(session, model=embedder.name, dim=embedder.dim)
        last_ok = session.scalar(
            select(SyncRun.started_at)
            .where(SyncRun.source_id == row.id, SyncRun.status == "succeeded", SyncRun.listing_complete)
            .order_by(SyncRun.started_at.desc())
            .limit(1)
        )
        run_row = SyncRun(
            source_id=row.id, trigger=trigger, status="running", listing_complete=False, errors=[],
            added=0, updated=0, unchanged=0, deleted=0, failed=0,
        )
        session.add(run_row)
        session.flush()
        report = SyncReport(run_id=run_row.id, source=name, status="running", started_at=run_row.started_at)
        session.expunge(row)
    connector: SourceConnector | None = None
    try:
        # Opening the connector is inside the try: bad options or missing credentials fail the run.
        connector = open_source(row)
        run = _Run(
            sessions, row, connector, report,
            embedder=embedder, chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap,
            batch_chunks=batch_chunks, progress=progress,
        )
        run.run(since=last_ok, full=full)
        report.status = "succeeded" if report.failed == 0 else "partial"
    except SupportBotError as exc:
        log.error("sync of %s failed: %s", name, exc)
        report.status = "failed"
        report.errors.append({"document": "", "reason": str(exc)})
    except Exception as exc:
        log.exception("sync of %s crashed", name)
        report.status = "failed"
        report.errors.append({"document": "", "reason": f"internal error: {type(exc).__name__}: {exc}"})
        raise
    finally:
        if connector is not None:
            connector.close()  # its HTTP connection pool
        report.finished_at = datetime.now(timezone.utc)
        with sessions.begin() as session:
            if report.added or report.updated or report.deleted:
                refresh_term_stats(session)
            session.execute(
                update(SyncRun)
                .where(SyncRun.id == report.run_id)
                .values(
                    status=report.status if report.status != "running" else "failed",
                    finished_at=report.finished_at,
                    listing_complete=report.listing_complete,
                    added=report.added,
                    updated=report.updated,
                    unchanged=report.unchanged,
                    deleted=report.deleted,
                    failed=report.failed,
                    errors=report.errors[:200],
                )
            )
    return report
