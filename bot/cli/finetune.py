"""`supportbot finetune …`: dataset, validation, training, evaluation, promotion."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from bot.cli.common import console, fail, print_json, services
from knowledge.finetune.backends import OpenAITrainer, export_dataset
from knowledge.finetune.brand import parse_brand_guide
from knowledge.finetune.dataset import from_answers, load_curated, prepare_dataset
from knowledge.finetune.evaluate import evaluate_models, load_examples
from knowledge.finetune.training import follow, start_training
from knowledge.finetune.validate import format_report, validate_file
from knowledge.prompting import select_context
from knowledge.registry import active_model, add_model, get_model, list_models, promote, rollback
from knowledge.retrieval import search

app = typer.Typer(help="Brand-voice fine-tuning: prepare, validate, train, evaluate, promote.", no_args_is_help=True)
DEFAULT_DIR = Path("finetune-data")


def _trainer(ctx: typer.Context) -> OpenAITrainer:
    s = services(ctx).settings
    if s.openai_api_key is None:
        fail("Training on OpenAI needs OPENAI_API_KEY (and OPENAI_BASE_URL for Azure/compatible APIs). "
             "Without it: `supportbot finetune export` and train an open model.")
    return OpenAITrainer(api_key=s.openai_api_key.get_secret_value(), base_url=s.openai_base_url)


@app.command()
def prepare(
    ctx: typer.Context,
    examples: Optional[Path] = typer.Option(None, help="Curated JSONL of {question, ideal_answer}."),
    out: Path = typer.Option(DEFAULT_DIR, help="Output folder."),
    feedback: bool = typer.Option(True, help="Include 👍 and operator-corrected bot answers."),
    validation_fraction: float = typer.Option(0.2, min=0.0, max=0.5),
) -> None:
    """Build train/validation JSONL in exactly the inference-time prompt format."""
    svc = services(ctx)
    cfg = svc.answer_config
    items, skipped = (load_curated(examples) if examples else []), []
    if feedback:
        with svc.sessions() as session:
            answers, skipped = from_answers(session)
        items += answers
    if not items:
        fail("No examples: pass --examples FILE or collect 👍 answers first.")

    def retrieve(question: str):
        with svc.sessions() as session:
            hits = search(session, question, embedder=svc.embedder, k=cfg.k, max_per_doc=cfg.max_per_doc)
        return select_context(hits, budget_tokens=cfg.context_tokens, max_sources=cfg.max_sources)

    result = prepare_dataset(items, out, retrieve=retrieve, refusal=cfg.refusal_text, brand_guide=cfg.brand_guide,
                             validation_fraction=validation_fraction, skipped=skipped)
    console.print(f"{result.train} training + {result.validation} validation examples in {out} "
                  f"(dropped {result.dropped_duplicates} duplicates; origins {result.origins}); hash {result.dataset_hash[:12]}")
    for note in result.skipped:
        console.print(f"[yellow]skipped[/yellow] {note}", highlight=False)


@app.command()
def validate(path: Path = typer.Argument(DEFAULT_DIR / "train.jsonl"), model: str = typer.Option("gpt-4o-mini-2024-07-18"),
             epochs: int = typer.Option(3)) -> None:
    """Check a training file before upload; exits non-zero on errors."""
    report = validate_file(path / "train.jsonl" if path.is_dir() else path, model=model)
    console.print(format_report(report, epochs=epochs), highlight=False)
    if not report.ok:
        raise SystemExit(1)


@app.command()
def start(ctx: typer.Context, data: Path = typer.Option(DEFAULT_DIR), model: str = typer.Option("gpt-4o-mini-2024-07-18"),
          epochs: Optional[int] = typer.Option(None), suffix: str = typer.Option("brand-voice")) -> None:
    """Upload the dataset and start an OpenAI(-compatible) fine-tuning job."""
    svc, trainer = services(ctx), _trainer(ctx)
    record = start_training(svc.sessions, trainer, data, base_model=model, suffix=suffix, epochs=epochs, who="cli")
    console.print(f"Started job {record.job_id} as model {record.id}. Follow it: supportbot finetune status {record.id} --wait")


@app.command()
def status(ctx: typer.Context, model_id: Optional[int] = typer.Argument(None), wait: bool = typer.Option(False),
           poll_seconds: float = typer.Option(30.0), as_json: bool = typer.Option(False, "--json")) -> None:
    """List registry models, or follow one training job (with --wait until it finishes)."""
    svc = services(ctx)
    if model_id is None:
        with svc.sessions() as session:
            rows = [(m.id, m.name, m.backend, m.status, m.base_model, m.active, m.created_at) for m in list_models(session)]
        if as_json:
            print_json([dict(zip(("id", "name", "backend", "status", "base_model", "active", "created_at"), r)) for r in rows])
            return
        table = Table("id", "name", "backend", "status", "base model", "active", "created")
        for r in rows:
            table.add_row(str(r[0]), r[1], r[2], r[3], r[4] or "", "✓" if r[5] else "", f"{r[6]:%Y-%m-%d %H:%M}")
        console.print(table)
        return
    trainer = _trainer(ctx)
    while True:
        state = follow(svc.sessions, trainer, model_id)
        console.print(f"job {state.job_id}: {state.status}" + (f" → {state.fine_tuned_model}" if state.fine_tuned_model else "")
                      + (f" ({state.error})" if state.error else ""), highlight=False)
        if state.done or not wait:
            break
        time.sleep(poll_seconds)
    if state.status in {"failed", "cancelled"}:
        raise SystemExit(1)


@app.command("eval")
def eval_cmd(ctx: typer.Context, candidate: int, data: Path = typer.Option(DEFAULT_DIR), limit: Optional[int] = typer.Option(None),
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Compare CANDIDATE vs the active model vs the base model on the validation split."""
    svc = services(ctx)
    if svc.chat is None:
        fail("Evaluating models needs a chat endpoint (OPENAI_API_KEY / OPENAI_BASE_URL).")
    examples = load_examples(data / "validation.jsonl", limit=limit)
    if not examples:
        fail(f"{data / 'validation.jsonl'} has no examples; prepare with --validation-fraction > 0.")
    with svc.sessions() as session:
        model = get_model(session, candidate)
        active = active_model(session)
        variants = {"candidate": (svc.chat_for(model), model.name)}
        if active is not None and active.id != model.id:
            variants["active"] = (svc.chat_for(active), active.name)
        variants["base"] = (svc.chat, svc.settings.chat_model)
    cfg = svc.answer_config
    result = evaluate_models(examples, variants, rules=parse_brand_guide(cfg.brand_guide), refusal_text=cfg.refusal_text)
    with svc.sessions.begin() as session:
        get_model(session, candidate).eval_results = result.as_dict()
    if as_json:
        print_json(result.as_dict())
        return
    columns = ("citation_validity", "cited_rate", "refusal_correct", "avg_words", "banned_phrase_rate", "sign_off_rate", "avg_grade", "errors")
    table = Table("model", *columns, title=f"{len(examples)} validation examples")
    for label, m in result.metrics.items():
        table.add_row(label, *(str(getattr(m, c)) for c in columns))
    console.print(table)
    for sample in result.samples:
        console.rule(sample["question"][:80])
        for label, text in sample.items():
            if label != "question":
                console.print(f"[bold]{label}[/bold]: {text}", highlight=False)


@app.command("promote")
def promote_cmd(ctx: typer.Context, model_id: int, who: str = typer.Option("cli")) -> None:
    """Make MODEL_ID the active brand-voice model (refused if it regresses citation validity)."""
    svc = services(ctx)
    with svc.sessions.begin() as session:
        model = promote(session, model_id, who=who)
        console.print(f"Model {model.id} ({model.name}) now answers questions.")


@app.command("rollback")
def rollback_cmd(ctx: typer.Context, who: str = typer.Option("cli")) -> None:
    """Return to the previously active model (or the base model)."""
    svc = services(ctx)
    with svc.sessions.begin() as session:
        model = rollback(session, who=who)
        console.print(f"Now answering with {model.name if model else 'the base model (' + svc.settings.chat_model + ')'}.")


@app.command("register")
def register_cmd(ctx: typer.Context, name: str, base_url: Optional[str] = typer.Option(None, help="OpenAI-compatible endpoint; default OPENAI_BASE_URL."),
                 api_key_ref: Optional[str] = typer.Option(None, help="Name of a key in MODEL_API_KEYS (never the key)."),
                 base_model: Optional[str] = typer.Option(None)) -> None:
    """Register a model served anywhere OpenAI-compatible (vLLM, Ollama, Together, Fireworks…)."""
    svc = services(ctx)
    if api_key_ref and api_key_ref not in svc.settings.model_api_keys:
        fail(f"MODEL_API_KEYS has no key named {api_key_ref!r}; add it there first.")
    with svc.sessions.begin() as session:
        model = add_model(session, name=name, backend="register", base_url=base_url, api_key_ref=api_key_ref,
                          base_model=base_model, who="cli")
        console.print(f"Registered model {model.id} ({name}). Evaluate it: supportbot finetune eval {model.id}")


@app.command("export")
def export_cmd(data: Path = typer.Option(DEFAULT_DIR), out: Path = typer.Option(Path("finetune-export"))) -> None:
    """Write chat JSONL for TRL/Axolotl/Unsloth plus a LoRA + vLLM/Ollama recipe."""
    for path in export_dataset(data, out):
        console.print(f"wrote {path}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="finetune")
