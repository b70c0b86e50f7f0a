"""The one configuration class. Read at the composition root only; everything else gets plain values."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- storage -------------------------------------------------------------------------------
    database_url: str | None = Field(
        None, description="PostgreSQL URL (needs the `vector` extension). Unset: start the embedded server."
    )
    data_dir: Path = Field(
        Path(platformdirs.user_data_dir("supportbot")),
        description="Where the embedded PostgreSQL keeps its data when DATABASE_URL is unset.",
    )

    # --- embeddings ----------------------------------------------------------------------------
    embedder: Literal["auto", "openai", "local"] = Field(
        "auto", description="`auto`: OpenAI when OPENAI_API_KEY is set, else the local MiniLM model."
    )
    openai_api_key: SecretStr | None = Field(None, description="Key for the OpenAI-compatible API.")
    openai_base_url: str | None = Field(
        None, description="Base URL of any OpenAI-compatible API (Azure, vLLM, Ollama, Together…)."
    )
    embedding_model: str = Field("text-embedding-3-small", description="OpenAI embedding model.")
    embedding_dimensions: int | None = Field(
        None, ge=8, le=3072, description="Requested embedding size for models that support `dimensions`."
    )
    openai_timeout: float = Field(30.0, gt=0, description="Seconds before an OpenAI request times out.")
    openai_max_retries: int = Field(2, ge=0, le=10, description="SDK retries on 429/5xx/timeouts.")

    # --- chunking and retrieval -------------------------------------------------------------------
    chunk_tokens: int = Field(200, ge=32, le=2000, description="Target chunk size in (estimated) tokens.")
    chunk_overlap: int = Field(40, ge=0, le=500, description="Tokens repeated between neighbouring chunks.")
    retrieval_k: int = Field(8, ge=1, le=100, description="Chunks returned by a search.")
    max_chunks_per_doc: int = Field(2, ge=1, le=20, description="At most this many chunks of one document.")
    hnsw_ef_search: int = Field(100, ge=1, le=1000, description="pgvector `hnsw.ef_search` per query.")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, v: str | None) -> str | None:
        if v and not v.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError("must be a PostgreSQL URL such as postgresql://user:pass@host:5432/db")
        return v or None

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError("CHUNK_OVERLAP must be smaller than CHUNK_TOKENS")
        if self.embedder == "openai" and self.openai_api_key is None:
            raise ValueError("EMBEDDER=openai needs OPENAI_API_KEY")
        return self

    @property
    def use_openai_embeddings(self) -> bool:
        return self.embedder == "openai" or (self.embedder == "auto" and self.openai_api_key is not None)
