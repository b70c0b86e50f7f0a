"""Composition root: Settings → engine → services (→ Slack `App`, see `create_app`).

Nothing else reads settings; everything below receives plain values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings
from knowledge import schema
from knowledge.db import make_engine, make_sessionmaker, sibling_database, start_embedded_postgres
from knowledge.embeddings import Embedder, LocalEmbedder, OpenAIEmbedder
from knowledge.models import Source
from knowledge.sources import open_source
from knowledge.sources.base import Source as SourceConnector

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    database_url: str
    database_location: str
    _overrides: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def embedder(self) -> Embedder:
        """Built on first use: loading the local model takes seconds and most commands never need it."""
        if "embedder" in self._overrides:
            return self._overrides["embedder"]
        s = self.settings
        if s.use_openai_embeddings:
            return OpenAIEmbedder(
                api_key=s.openai_api_key.get_secret_value(),
                model=s.embedding_model,
                dimensions=s.embedding_dimensions,
                base_url=s.openai_base_url,
                timeout=s.openai_timeout,
                max_retries=s.openai_max_retries,
            )
        return LocalEmbedder()

    def open_source(self, row: Source) -> SourceConnector:
        return open_source(row.kind, row.options, secrets=self.source_secrets())

    def source_secrets(self) -> dict[str, str]:
        return {}

    @property
    def chunking(self) -> dict[str, int]:
        return {"chunk_tokens": self.settings.chunk_tokens, "chunk_overlap": self.settings.chunk_overlap}


def database_url(settings: Settings) -> tuple[str, str]:
    """(SQLAlchemy URL, human description of where the data lives)."""
    if settings.database_url:
        return settings.database_url, "DATABASE_URL"
    url = start_embedded_postgres(settings.data_dir)
    return url, f"embedded PostgreSQL in {settings.data_dir / 'pgdata'}"


def build_services(settings: Settings, *, migrate: bool = True, **overrides: Any) -> Services:
    url, where = database_url(settings)
    engine = make_engine(url, ef_search=settings.hnsw_ef_search)
    if migrate:
        schema.upgrade(engine)
    return Services(settings, engine, make_sessionmaker(engine), url, where, overrides)

def eval_services(services: Services) -> Services:
    """Golden sets are synced into a sibling database so their documents never reach answers."""
    url = sibling_database(services.database_url, suffix="_eval")
    engine = make_engine(url, ef_search=services.settings.hnsw_ef_search)
    schema.upgrade(engine)
    return Services(
        services.settings, engine, make_sessionmaker(engine), url, f"{services.database_location} (eval database)",
        services._overrides | {"embedder": services.embedder},
    )
