"""The brand-voice model registry: which fine-tuned (or registered) model answers questions.

Exactly one model is active at a time (a partial unique index enforces it); promote and rollback
are single transactions, audited in `model_events`, and the answer pipeline reads the active model
on every answer, so they take effect without a restart.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from knowledge.errors import NotFoundError, PromotionRefused, SupportBotError
from knowledge.models import ModelEvent, ModelVersion


def active_model(session: Session) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.active))


def get_model(session: Session, model_id: int) -> ModelVersion:
    model = session.get(ModelVersion, model_id)
    if model is None:
        raise NotFoundError(f"No model with id {model_id}. See `supportbot finetune status`.")
    return model


def list_models(session: Session) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.id)))


def _event(session: Session, action: str, model: ModelVersion | None, *, previous: ModelVersion | None = None,
           who: str | None = None, **detail: Any) -> None:
    session.add(ModelEvent(action=action, model_id=model.id if model else None,
                           previous_model_id=previous.id if previous else None, who=who, detail=detail))


def add_model(session: Session, *, name: str, backend: str, who: str | None = None, **fields: Any) -> ModelVersion:
    model = ModelVersion(name=name, backend=backend, status=fields.pop("status", "ready"), eval_results={}, active=False, **fields)
    session.add(model)
    session.flush()
    _event(session, "register", model, who=who, backend=backend)
    return model


def promote(session: Session, model_id: int, *, who: str | None = None) -> ModelVersion:
    """Make a model the active brand-voice model. Refused without an evaluation, or when its
    citation validity is below what answers customers now (the active model, else the base)."""
    candidate = get_model(session, model_id)
    if candidate.status != "ready":
        raise PromotionRefused(f"Model {model_id} is {candidate.status}, not ready.")
    results = candidate.eval_results or {}
    if "candidate" not in results:
        raise PromotionRefused(f"Model {model_id} has no evaluation; run `supportbot finetune eval {model_id}` first.")
    current = results.get("active") or results.get("base") or {}
    new, old = results["candidate"].get("citation_validity", 0.0), current.get("citation_validity", 0.0)
    if new + 1e-9 < old:
        raise PromotionRefused(
            f"Model {model_id} regresses citation validity ({new:.1%} vs {old:.1%} now); not promoted."
        )
    previous = active_model(session)
    if previous is not None and previous.id == candidate.id:
        return candidate
    session.execute(update(ModelVersion).where(ModelVersion.active).values(active=False))
    session.flush()
    candidate.active, candidate.promoted_at = True, datetime.now(timezone.utc)
    _event(session, "promote", candidate, previous=previous, who=who, citation_validity=new)
    return candidate


def rollback(session: Session, *, who: str | None = None) -> ModelVersion | None:
    """Return to the model that was active before the current one (or to the base model)."""
    current = active_model(session)
    if current is None:
        raise SupportBotError("No brand-voice model is active; answers already use the base model.")
    last = session.scalar(
        select(ModelEvent).where(ModelEvent.action == "promote", ModelEvent.model_id == current.id)
        .order_by(ModelEvent.id.desc()).limit(1)
    )
    target = session.get(ModelVersion, last.previous_model_id) if last and last.previous_model_id else None
    current.active = False
    session.flush()
    if target is not None:
        target.active = True
    _event(session, "rollback", target, previous=current, who=who)
    return target
