"""The one configuration class. Read at the composition root only; everything else gets plain values."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- storage -------------------------------------------------------------------------------
    database_url: str | None = Field(
        None, description="PostgreSQL URL (needs the `vector` extension). Unset: start the embedded server."
    )
    data_dir: Path = Field(
        Path(platformdirs.user_data_dir("supportbot")),
        description="Where the embedded PostgreSQL keeps its data when DATABASE_URL is unset.",
        json_schema_extra={"doc_default": "the per-user data dir, e.g. ~/.local/share/supportbot"},
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

    # --- help-center connectors (credentials live here, never in the sources table) ---------------
    zendesk_email: str | None = Field(None, description="Zendesk agent/admin email for API-token auth.")
    zendesk_api_token: SecretStr | None = Field(None, description="Zendesk API token (with ZENDESK_EMAIL).")
    zendesk_oauth_token: SecretStr | None = Field(
        None, description="Zendesk OAuth access token (hc:read or read scope); used instead of email + API token."
    )
    intercom_access_token: SecretStr | None = Field(
        None, description="Intercom access token with the 'Read articles' permission."
    )
    http_timeout: float = Field(30.0, gt=0, le=600, description="Seconds before a help-center HTTP request times out.")
    http_retries: int = Field(3, ge=0, le=10, description="Retries on 5xx/429/timeouts, with exponential backoff.")
    http_max_wait: float = Field(
        60.0, ge=0, le=3600, description="Longest single wait between retries, Retry-After included (seconds)."
    )
    sitemap_delay_seconds: float = Field(
        1.0, ge=0, le=60, description="Politeness pause between page fetches of a sitemap source."
    )
    user_agent: str = Field(
        "supportbot/0.1 (+help-center sync)",
        min_length=1,
        description="User-Agent of connector requests; robots.txt rules for its first word apply.",
    )

    # --- answering -------------------------------------------------------------------------------
    chat_model: str = Field(
        "gpt-4o-mini", description="Base chat model (fallback for the brand-voice model). Needs OPENAI_API_KEY."
    )
    generation: Literal["auto", "model", "extractive"] = Field(
        "auto", description="`auto`: the chat model when OPENAI_API_KEY is set, else quoted excerpts (offline)."
    )
    answer_min_similarity: float = Field(
        0.40, ge=-1, le=1, description="Below this retrieval confidence (cosine) the bot refuses without calling a model."
    )
    context_tokens: int = Field(1500, ge=100, le=50_000, description="Token budget for sources in the prompt.")
    context_max_sources: int = Field(5, ge=1, le=20, description="At most this many numbered sources in a prompt.")
    answer_max_tokens: int = Field(600, ge=16, le=8000, description="Longest generated answer, in tokens.")
    answer_temperature: float = Field(0.2, ge=0, le=2, description="Sampling temperature for answers.")
    refusal_text: str = Field(
        "I don't have that information in our help center.", description="What the bot says when it cannot answer."
    )
    escalation_hint: str = Field(
        "I've flagged this for the support team so a person can follow up.",
        description="Added to every refusal (the Slack bot also mentions the support group).",
    )
    few_shot_file: Path | None = Field(
        None, description='Optional worked examples for the prompt, JSONL: {"question", "sources": [{"title", "text"}], "answer"}.'
    )
    brand_voice_file: Path | None = Field(
        None, description="Markdown brand-voice guide (tone, do/don't, sign-off). Default: the bundled sample guide."
    )
    stale_rank_factor: float = Field(0.8, gt=0, le=1, description="Score multiplier for stale documents in retrieval.")
    rewrite_followups_with_model: bool = Field(
        True, description="Rewrite follow-up questions with the chat model (else: fold in the previous user turn)."
    )
    model_prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description='Extra USD prices per 1M tokens, JSON: {"my-model": [input, output]}.'
    )
    model_api_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Keys for registered models, JSON: {"vllm": "..."}; a model refers to one by name.',
    )
    audit_redact_pii: bool = Field(True, description="Scrub emails, phone numbers and tokens from stored questions.")
    audit_store_user_ids: bool = Field(False, description="Store the asking Slack user's id with each answer.")

    # --- Slack (`supportbot run`) -------------------------------------------------------------------
    slack_bot_token: SecretStr | None = Field(None, description="Bot token (xoxb-…) of the Slack app.")
    slack_signing_secret: SecretStr | None = Field(
        None, description="Signing secret of the Slack app; verifies HTTP requests (not needed in Socket Mode)."
    )
    slack_app_token: SecretStr | None = Field(
        None, description="App-level token (xapp-…, connections:write). Set: Socket Mode; unset: HTTP mode."
    )
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL (tests use a fake).")
    slack_http_host: str = Field("0.0.0.0", description="HTTP mode: address to listen on.")
    slack_http_port: int = Field(
        3000, ge=0, le=65535, validation_alias=AliasChoices("slack_http_port", "port"),
        description="Port for /slack/events (HTTP mode) and /healthz (both modes); PORT is read too.",
    )
    slack_workers: int = Field(
        8, ge=1, le=64, description="Answers generated at once; more requests wait in a queue (acks never wait)."
    )
    slack_operator_user_ids: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Slack user ids allowed to run /supportbot-admin (comma-separated)."
    )
    slack_operator_usergroup: str | None = Field(
        None, description="Slack user group id (S…) whose members may run /supportbot-admin."
    )
    slack_support_usergroup: str | None = Field(
        None, description="Slack user group id (S…) mentioned on refusals and 'Talk to a human'."
    )
    slack_answer_channels: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Channel ids the bot answers in (comma-separated); empty: every channel."
    )
    slack_answer_dms: bool = Field(True, description="Answer direct messages.")
    slack_draft_channels: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Channel ids where draft documents may be cited (default: nowhere)."
    )
    slack_internal_channels: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Channel ids where internal documents may be cited (default: nowhere)."
    )
    slack_operator_channel: str | None = Field(
        None, description="Channel id for job notices (sync failures, stale documents, digests)."
    )
    scheduler_enabled: bool = Field(True, description="Run the scheduled jobs inside `supportbot run`.")

    # --- scheduled jobs and stale documents (README "Scheduled jobs") ------------------------------
    scheduler_poll_seconds: float = Field(
        15.0, gt=0, le=600, description="How often a standby replica tries to take over the scheduler, and the leader checks its lock."
    )
    scheduler_timezone: str = Field("UTC", description="Time zone of STALE_SCAN_CRON and DIGEST_CRON (IANA name).")
    refresh_minutes: int = Field(
        60, ge=5, le=10_080, description="Default refresh interval of a source (per source: -o refresh_minutes=N)."
    )
    stale_scan_cron: str = Field("0 7 * * *", description="When the daily stale scan runs (crontab syntax).")
    digest_cron: str = Field("0 8 * * mon", description="When the weekly digest is posted (crontab syntax).")
    stale_review_days: int = Field(
        180, ge=1, le=3650, description="Review interval: a document not updated or verified for longer is stale."
    )
    stale_downvotes: int = Field(
        3, ge=0, le=1000, description="A document whose citing answers got this many 👎 recently is stale (0: off)."
    )
    stale_downvote_days: int = Field(30, ge=1, le=365, description="The 'recently' of STALE_DOWNVOTES, in days.")
    stale_check_links: bool = Field(True, description="A document linking to a vanished help-center page is stale.")
    digest_gap_similarity: float = Field(
        0.75, gt=0, lt=1, description="Cosine similarity at which unanswered questions count as one topic in the digest."
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    log_format: Literal["text", "json"] = Field(
        "text", description="`json`: one JSON object per line, with `event_id` / `answer_id` when known."
    )
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics at /metrics next to /healthz.")

    @field_validator(
        "slack_operator_user_ids", "slack_answer_channels", "slack_draft_channels", "slack_internal_channels",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, v: object) -> object:
        # Environment variables are plain text: "C1,C2" rather than JSON.
        if isinstance(v, str):
            return [part.strip() for part in v.split(",") if part.strip()]
        return v

    @field_validator("stale_scan_cron", "digest_cron")
    @classmethod
    def _crontab(cls, v: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        CronTrigger.from_crontab(v)  # ValueError names the bad field
        return v

    @field_validator("scheduler_timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Europe/Berlin)") from exc
        return v

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
        if self.generation == "model" and self.openai_api_key is None:
            raise ValueError("GENERATION=model needs OPENAI_API_KEY")
        if self.brand_voice_file is not None and not self.brand_voice_file.is_file():
            raise ValueError(f"BRAND_VOICE_FILE {self.brand_voice_file} does not exist")
        if self.few_shot_file is not None and not self.few_shot_file.is_file():
            raise ValueError(f"FEW_SHOT_FILE {self.few_shot_file} does not exist")
        return self

    @property
    def use_chat_model(self) -> bool:
        return self.generation == "model" or (self.generation == "auto" and self.openai_api_key is not None)

    @property
    def use_openai_embeddings(self) -> bool:
        return self.embedder == "openai" or (self.embedder == "auto" and self.openai_api_key is not None)
