"""Grounded answers: rewrite → retrieve → select → decide → generate (fallback chain) → verify → audit.

`Answerer.answer(question, *, history, filters)` is the one entry point the Slack bot, the CLI and
the evals share.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from knowledge.chat import ChatModel, Message
from knowledge.citations import is_refusal, verify
from knowledge.embeddings import Embedder
from knowledge.errors import ModelError
from knowledge.extractive import extractive_answer
from knowledge.models import Answer as AnswerRow
from knowledge.models import ContentGap, ModelVersion
from knowledge.pricing import DEFAULT_PRICES, estimate_cost
from knowledge.prompting import (
    ContextSource,
    FewShot,
    build_messages,
    prompt_version,
    select_context,
)
from knowledge.redaction import redact
from knowledge.registry import active_model
from knowledge.retrieval import Filters, Hit, search
from knowledge.rewrite import Turn, fold_history

log = logging.getLogger(__name__)

REWRITE_PROMPT = (
    "Rewrite the user's last message as one standalone search query for the help center, using the "
    "conversation to fill in what the message leaves implicit. Reply with the query only."
)


@dataclass(frozen=True)
class AnswerConfig:
    k: int = 8
    max_per_doc: int = 2
    context_tokens: int = 1500
    max_sources: int = 5
    min_similarity: float = 0.40  # below: refuse without calling the model
    refusal_text: str = "I don't have that information in our help center."
    escalation_hint: str = "I've flagged this for the support team so a person can follow up."
    brand_guide: str = ""
    few_shots: tuple[FewShot, ...] = ()
    base_model: str | None = "gpt-4o-mini"  # None: no chat model, extractive answers
    temperature: float = 0.2
    max_answer_tokens: int = 600
    stale_factor: float = 0.8
    rewrite_with_model: bool = True
    redact_pii: bool = True
    store_user_ids: bool = False
    prices: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_PRICES))


@dataclass(frozen=True)
class Citation:
    n: int
    title: str
    url: str | None
    updated_at: datetime | None
    stale: bool
    stale_reason: str | None
    document_id: str  # the source's id for the document
    document_pk: int  # documents.id


@dataclass
class Answer:
    text: str
    status: str  # answered | refused | fallback
    generator: str  # model | extractive | none
    citations: list[Citation]
    query: str
    model: str | None = None
    reason: str | None = None
    escalation_hint: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    fallbacks: list[dict[str, str]] = field(default_factory=list)
    sources: list[ContextSource] = field(default_factory=list)  # the context the answer was built from
    hits: list[Hit] = field(default_factory=list)
    confidence: float | None = None
    citation_markers: int = 0  # [n] markers in the generated text, before verification
    invalid_citations: list[int] = field(default_factory=list)  # markers that pointed to no source
    id: int | None = None  # audit row

    @property
    def refused(self) -> bool:
        return self.status == "refused"


ChatFor = Callable[[ModelVersion], ChatModel]


class Answerer:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        embedder: Embedder,
        chat: ChatModel | None,
        config: AnswerConfig,
        chat_for: ChatFor | None = None,
    ) -> None:
        self.sessions = sessions
        self.embedder = embedder
        self.chat = chat
        self.config = config
        self.chat_for = chat_for
        self.prompt_version = prompt_version(
            refusal=config.refusal_text, brand_guide=config.brand_guide, few_shots=config.few_shots
        )

    # --- pipeline ---------------------------------------------------------------------------------
    def answer(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        filters: Filters = Filters(),
        channel: str | None = None,
        thread_ts: str | None = None,
        user_id: str | None = None,
        record: bool = True,
    ) -> Answer:
        cfg = self.config
        clock = _Clock()
        usage = _Usage(cfg.prices)
        query = self._standalone_query(question, history, usage)
        clock.lap("rewrite")
        with self.sessions() as session:
            hits = search(
                session, query, embedder=self.embedder, k=cfg.k, filters=filters,
                max_per_doc=cfg.max_per_doc, stale_factor=cfg.stale_factor,
            )
            candidates = self._candidates(session)
        clock.lap("retrieve")
        sources = select_context(hits, budget_tokens=cfg.context_tokens, max_sources=cfg.max_sources)
        confidence = max((h.similarity for h in hits if h.similarity is not None), default=None)
        result = Answer(text="", status="answered", generator="none", citations=[], query=query,
                        sources=sources, hits=hits, confidence=confidence)

        if not sources or confidence is None or confidence < cfg.min_similarity:
            self._refuse(result, "low_confidence")
        else:
            self._generate(result, question, history, sources, candidates, usage)
        clock.lap("generate")
        if result.generator != "none":
            self._verify(result, sources)
        clock.lap("verify")
        result.prompt_tokens, result.completion_tokens, result.cost_usd = usage.totals()
        result.latency_ms = clock.stages()
        if record:
            result.id = self._record(result, question, history, channel, thread_ts, user_id)
        return result

    def _standalone_query(self, question: str, history: Sequence[Turn], usage: _Usage) -> str:
        if not history:
            return question.strip()
        if self.chat and self.config.base_model and self.config.rewrite_with_model:
            messages = [Message("system", REWRITE_PROMPT)]
            messages += [Message("assistant" if t.role == "assistant" else "user", t.text) for t in list(history)[-6:]]
            messages.append(Message("user", question))
            try:
                completion = self.chat.complete(messages, model=self.config.base_model, temperature=0, max_tokens=80)
                usage.add(completion.model, completion.prompt_tokens, completion.completion_tokens)
                rewritten = completion.text.strip().strip('"')
                if rewritten:
                    return rewritten
            except ModelError as exc:
                log.warning("query rewrite failed (%s); folding history instead", exc)
        return fold_history(question, history)

    def _candidates(self, session: Session) -> list[tuple[ChatModel, str, str]]:
        """(client, model name, label) in fallback order: the active brand-voice model, then the base model."""
        chain: list[tuple[ChatModel, str, str]] = []
        active = active_model(session)
        if active is not None and self.chat_for is not None:
            try:
                chain.append((self.chat_for(active), active.name, "brand-voice"))
            except ModelError as exc:
                log.warning("active model %s cannot be used (%s); skipping it", active.name, exc)
        if self.chat is not None and self.config.base_model and all(name != self.config.base_model for _, name, _ in chain):
            chain.append((self.chat, self.config.base_model, "base"))
        return chain

    def _generate(self, result: Answer, question: str, history: Sequence[Turn], sources: list[ContextSource],
                  candidates: list[tuple[ChatModel, str, str]], usage: _Usage) -> None:
        cfg = self.config
        messages = build_messages(question, sources, refusal=cfg.refusal_text, brand_guide=cfg.brand_guide,
                                  history=history, few_shots=cfg.few_shots)
        for client, model, label in candidates:
            try:
                completion = client.complete(messages, model=model, temperature=cfg.temperature, max_tokens=cfg.max_answer_tokens)
            except ModelError as exc:
                log.warning("%s model %s failed: %s; falling back", label, model, exc)
                result.fallbacks.append({"model": model, "role": label, "error": str(exc)})
                continue
            usage.add(completion.model, completion.prompt_tokens, completion.completion_tokens)
            result.text, result.model, result.generator = completion.text, model, "model"
            return
        # No model configured (offline) or every model failed: quote the help center instead.
        result.text = extractive_answer(question, sources)
        result.generator = "extractive"
        if candidates:
            result.status, result.reason = "fallback", "all models failed"
            log.warning("every model failed; answering with excerpts")

    def _verify(self, result: Answer, sources: list[ContextSource]) -> None:
        by_n = {s.n: s for s in sources}
        if result.generator == "model" and is_refusal(result.text, refusal_text=self.config.refusal_text):
            self._refuse(result, "model_refused")
            return
        checked = verify(result.text, valid=by_n.keys())
        result.citation_markers, result.invalid_citations = checked.markers_total, checked.invalid
        if checked.invalid:
            log.warning("dropped citations to missing sources %s", checked.invalid)
        if not checked.cited:
            # An answer with no valid citation is not grounded in what we retrieved.
            self._refuse(result, "ungrounded")
            return
        result.text = checked.text
        result.citations = [
            Citation(
                n=i, title=by_n[old].title, url=by_n[old].url, updated_at=by_n[old].updated_at,
                stale=by_n[old].stale_reason is not None, stale_reason=by_n[old].stale_reason,
                document_id=by_n[old].external_id, document_pk=by_n[old].document_id,
            )
            for i, old in enumerate(checked.cited, 1)
        ]

    def _refuse(self, result: Answer, reason: str) -> None:
        result.status, result.reason = "refused", reason
        result.text = self.config.refusal_text
        result.escalation_hint = self.config.escalation_hint
        result.citations = []

    # --- audit ------------------------------------------------------------------------------------
    def _record(self, result: Answer, question: str, history: Sequence[Turn], channel: str | None,
                thread_ts: str | None, user_id: str | None) -> int:
        scrub = redact if self.config.redact_pii else (lambda text: text)
        used = {cid for s in result.sources for cid in s.chunk_ids}
        row = AnswerRow(
            question=scrub(question),
            rewritten_query=scrub(result.query),
            history_turns=len(history),
            retrieved=[
                {"chunk_id": h.chunk_id, "document_id": h.external_id, "title": h.title, "score": round(h.score, 6),
                 "similarity": None if h.similarity is None else round(h.similarity, 4), "used": h.chunk_id in used}
                for h in result.hits
            ],
            citations=[
                {"n": c.n, "document_id": c.document_id, "document_pk": c.document_pk, "title": c.title,
                 "url": c.url, "stale": c.stale}
                for c in result.citations
            ],
            answer_text=result.text,
            status=result.status,
            generator=result.generator,
            reason=result.reason,
            model=result.model,
            prompt_version=self.prompt_version,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            cost_usd=result.cost_usd,
            latency_ms=result.latency_ms,
            fallbacks=result.fallbacks,
            channel=channel,
            thread_ts=thread_ts,
            user_id=user_id if self.config.store_user_ids else None,
            escalated=False,
        )
        with self.sessions.begin() as session:
            session.add(row)
            session.flush()
            if result.refused:
                session.add(ContentGap(answer_id=row.id, question=row.question, reason=result.reason or "refused",
                                       top_similarity=result.confidence))
        log.info("answer %s: %s via %s in %.0f ms", row.id, result.status, result.model or result.generator,
                 result.latency_ms.get("total", 0), extra={"answer_id": row.id, "status": result.status})
        return row.id


class _Clock:
    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = round((now - self.last) * 1000, 2)
        self.last = now

    def stages(self) -> dict[str, float]:
        return self.laps | {"total": round((self.last - self.start) * 1000, 2)}


class _Usage:
    def __init__(self, prices: Mapping[str, tuple[float, float]]) -> None:
        self.prices = prices
        self.prompt = self.completion = 0
        self.cost = 0.0

    def add(self, model: str, prompt: int, completion: int) -> None:
        self.prompt += prompt
        self.completion += completion
        self.cost += estimate_cost(model, prompt, completion, prices=self.prices)

    def totals(self) -> tuple[int, int, float]:
        return self.prompt, self.completion, round(self.cost, 8)
