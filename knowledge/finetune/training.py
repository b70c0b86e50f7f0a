"""Start a training job from a prepared dataset and follow it into the registry.

Provider calls (uploads, polls) happen outside any database transaction; the registry is written
afterwards in a short one.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from knowledge.errors import SupportBotError
from knowledge.finetune.backends import JobState, Trainer
from knowledge.finetune.dataset import dataset_hash
from knowledge.finetune.validate import format_report, validate_file
from knowledge.models import ModelVersion
from knowledge.registry import add_model, get_model


def start_training(
    sessions: sessionmaker[Session], trainer: Trainer, dataset_dir: Path, *, base_model: str,
    suffix: str = "brand-voice", epochs: int | None = None, who: str | None = None,
) -> ModelVersion:
    """Validate, upload and start; the job is recorded as a `training` model right away."""
    train, validation = dataset_dir / "train.jsonl", dataset_dir / "validation.jsonl"
    report = validate_file(train, model=base_model)
    if not report.ok:
        raise SupportBotError("The dataset does not validate:\n" + format_report(report))
    digest = dataset_hash(dataset_dir)
    state = trainer.start(train, validation if validation.is_file() else None, base_model=base_model, suffix=suffix, epochs=epochs)
    with sessions.begin() as session:
        return add_model(
            session, name=f"pending:{state.job_id}", backend="openai", base_model=base_model,
            dataset_hash=digest, job_id=state.job_id, status="training", who=who,
        )


def follow(sessions: sessionmaker[Session], trainer: Trainer, model_id: int) -> JobState:
    """Poll the job once; on success the registry entry gets the fine-tuned model's name."""
    with sessions() as session:
        model = get_model(session, model_id)
        job_id, backend = model.job_id, model.backend
    if not job_id:
        raise SupportBotError(f"Model {model_id} was not trained here (backend {backend}).")
    state = trainer.status(job_id)
    with sessions.begin() as session:
        model = get_model(session, model_id)
        if state.status == "succeeded" and state.fine_tuned_model:
            model.name, model.status = state.fine_tuned_model, "ready"
        elif state.status in {"failed", "cancelled"}:
            model.status = state.status
            model.eval_results = (model.eval_results or {}) | {"error": state.error}
    return state
