"""Composition root: Settings → engine → services (→ Slack `App`, see `create_app`).

Nothing else reads settings; everything below receives plain values.
"""

from __future__ import annotations

import logging
from importlib.resources import files
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.notices import Notices
from bot.policy import Policy
from bot.settings import Settings
from jobs.leader import LeaderScheduler
from jobs.scheduler import ScheduleConfig, leader_scheduler
from jobs.tasks import JobContext, utcnow
from knowledge import schema
from knowledge.db import make_engine, make_sessionmaker, sibling_database, start_embedded_postgres
from knowledge.embeddings import Embedder, LocalEmbedder, OpenAIEmbedder
from knowledge.answering import AnswerConfig, Answerer
from knowledge.chat import ChatModel, OpenAIChatModel
from knowledge.errors import ConfigurationError, ModelError
from knowledge.models import ModelVersion, Source
from knowledge.pricing import DEFAULT_PRICES
from knowledge.prompting import load_few_shots
from knowledge.sources import open_source
from knowledge.sources.base import Source as SourceConnector
from knowledge.sources.http import HttpOptions
from knowledge.stale import StaleRules

if TYPE_CHECKING:
    from slack_bolt import App

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    database_url: str
    database_location: str
    _overrides: dict[str, Any] = field(default_factory=dict)
    _chat_clients: dict[tuple[str | None, str | None], ChatModel] = field(default_factory=dict)

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

    @cached_property
    def chat(self) -> ChatModel | None:
        """The configured OpenAI-compatible chat endpoint, or None for extractive (offline) answers."""
        if "chat" in self._overrides:
            return self._overrides["chat"]
        s = self.settings
        if not s.use_chat_model:
            return None
        return OpenAIChatModel(
            api_key=s.openai_api_key.get_secret_value(), base_url=s.openai_base_url,
            timeout=s.openai_timeout, max_retries=s.openai_max_retries,
        )

    def chat_for(self, model: ModelVersion) -> ChatModel:
        """A client for a registry model: its own endpoint and key reference, else the configured
        ones. Clients are cached per (endpoint, key reference): one connection pool each."""
        s = self.settings
        base_url = model.base_url or s.openai_base_url
        if model.api_key_ref:
            key = s.model_api_keys.get(model.api_key_ref)
            if key is None:
                raise ModelError(f"no key named {model.api_key_ref!r} in MODEL_API_KEYS")
            api_key = key.get_secret_value()
        elif model.base_url is None and s.openai_api_key is not None:
            if self.chat is not None:
                return self.chat
            api_key = s.openai_api_key.get_secret_value()
        else:
            # Another host without a key reference: never send it our OpenAI key. Self-hosted
            # servers (vLLM, Ollama) usually accept any key.
            api_key = "not-needed"
        cache_key = (base_url, model.api_key_ref)
        if cache_key not in self._chat_clients:
            self._chat_clients[cache_key] = OpenAIChatModel(
                api_key=api_key, base_url=base_url, timeout=s.openai_timeout, max_retries=s.openai_max_retries,
            )
        return self._chat_clients[cache_key]

    @cached_property
    def policy(self) -> Policy:
        """Where the bot answers, what it may cite there, who operates it (from settings, once)."""
        return Policy.from_settings(self.settings)

    @cached_property
    def answer_config(self) -> AnswerConfig:
        s = self.settings
        guide = s.brand_voice_file or files("knowledge") / "sample_brand_voice.md"
        return AnswerConfig(
            k=s.retrieval_k,
            max_per_doc=s.max_chunks_per_doc,
            context_tokens=s.context_tokens,
            max_sources=s.context_max_sources,
            min_similarity=s.answer_min_similarity,
            refusal_text=s.refusal_text,
            escalation_hint=s.escalation_hint,
            brand_guide=guide.read_text(encoding="utf-8"),
            few_shots=load_few_shots(s.few_shot_file.read_text(encoding="utf-8")) if s.few_shot_file else (),
            base_model=s.chat_model if self.chat is not None else None,
            temperature=s.answer_temperature,
            max_answer_tokens=s.answer_max_tokens,
            stale_factor=s.stale_rank_factor,
            rewrite_with_model=s.rewrite_followups_with_model,
            redact_pii=s.audit_redact_pii,
            store_user_ids=s.audit_store_user_ids,
            prices=DEFAULT_PRICES | s.model_prices,
        )

    @cached_property
    def answerer(self) -> Answerer:
        # GENERATION=extractive (or no key) means no model at all, brand-voice model included.
        return Answerer(
            self.sessions, embedder=self.embedder, chat=self.chat, config=self.answer_config,
            chat_for=self.chat_for if self.chat is not None else None,
        )

    def start_scheduler(self) -> Any:
        """Start the job scheduler in this process (it elects one leader across replicas).
        Returns an object with `shutdown()`, or None when there is nothing to schedule."""
        if not self.settings.scheduler_enabled:
            return None
        return self.scheduler().start()

    def scheduler(self) -> LeaderScheduler:
        """A leader-elected scheduler, not started yet (`supportbot scheduler` runs it in the foreground)."""
        s = self.settings
        config = ScheduleConfig(
            refresh_minutes=s.refresh_minutes, stale_scan_cron=s.stale_scan_cron, digest_cron=s.digest_cron,
            timezone=s.scheduler_timezone,
        )
        return leader_scheduler(
            self.engine, self.sessions, self.job_context, config=config, poll_seconds=s.scheduler_poll_seconds
        )

    @cached_property
    def job_context(self) -> JobContext:
        """What scheduled and operator-triggered jobs run with (see jobs/tasks.py)."""
        s = self.settings
        notices = self.notices
        return JobContext(
            sessions=self.sessions,
            embedder=lambda: self.embedder,
            open_source=self.open_source,
            chunking=self.chunking,
            stale_rules=StaleRules(
                review_days=s.stale_review_days, downvotes=s.stale_downvotes,
                downvote_days=s.stale_downvote_days, check_links=s.stale_check_links,
            ),
            gap_similarity=s.digest_gap_similarity,
            notify_stale=notices.post_stale if notices else None,
            notify_digest=notices.post_digest if notices else None,
            clock=self._overrides.get("clock", utcnow),
        )

    @cached_property
    def notices(self) -> Notices | None:
        """Stale notices and digests for the operator channel; None without a bot token and channel."""
        s = self.settings
        if s.slack_bot_token is None or not s.slack_operator_channel:
            return None
        client = WebClient(token=s.slack_bot_token.get_secret_value(), base_url=s.slack_api_url)
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
        return Notices(client, channel=s.slack_operator_channel)

    def open_source(self, row: Source) -> SourceConnector:
        return open_source(row.kind, row.options, secrets=self.source_secrets(), http=self.http_options())

    def source_secrets(self) -> dict[str, str]:
        """Connector credentials as plain strings; only the ones that are set."""
        s = self.settings
        values = {
            "zendesk_email": s.zendesk_email,
            "zendesk_api_token": s.zendesk_api_token,
            "zendesk_oauth_token": s.zendesk_oauth_token,
            "intercom_access_token": s.intercom_access_token,
        }
        return {
            key: value.get_secret_value() if isinstance(value, SecretStr) else value
            for key, value in values.items()
            if value is not None
        }

    def http_options(self) -> HttpOptions:
        s = self.settings
        return HttpOptions(
            timeout=s.http_timeout, retries=s.http_retries, max_wait=s.http_max_wait,
            user_agent=s.user_agent, crawl_delay=s.sitemap_delay_seconds,
        )

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


def create_app(services: Services) -> App:
    """The Slack app: Web API client, request signing and every listener. Serving it is `bot.server`'s job."""
    from concurrent.futures import ThreadPoolExecutor

    from slack_bolt import App

    from bot import errors, middleware
    from bot.listeners import admin, cite, escalation, feedback, home, mentions, sources, stale

    LISTENERS = (mentions, cite, admin, feedback, escalation, sources, home, stale)  # noqa: N806 - the registry of listener modules

    s = services.settings
    if s.slack_bot_token is None:
        raise ConfigurationError("SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) of the Slack app.")
    if s.slack_signing_secret is None and s.slack_app_token is None:
        raise ConfigurationError("SLACK_SIGNING_SECRET is not set (HTTP mode verifies every request with it).")
    client = WebClient(token=s.slack_bot_token.get_secret_value(), base_url=s.slack_api_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    app = App(
        client=client,
        signing_secret=s.slack_signing_secret.get_secret_value() if s.slack_signing_secret else "",
        # Listeners ack at once and work in lazy listeners on this bounded pool: acks never wait for answers.
        process_before_response=True,
        listener_executor=ThreadPoolExecutor(max_workers=s.slack_workers, thread_name_prefix="slack-work"),
    )
    errors.register(app)
    middleware.register(app, services)
    for module in LISTENERS:
        module.register(app, services)
    return app
