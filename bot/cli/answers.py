"""`supportbot ask`: the answer pipeline from the terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from bot.cli.common import console, fail, print_json, services
from bot.render import freshness
from knowledge.answering import Answer
from knowledge.retrieval import Filters
from knowledge.rewrite import Turn


def load_history(path: Path) -> list[Turn]:
    """A JSON list of {"role": "user"|"assistant", "text": ...} (the golden-set format)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return [Turn(str(t["role"]), str(t["text"])) for t in raw]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        fail(f"--history-file must be a JSON list of {{\"role\", \"text\"}} objects: {exc}")


def answer_json(a: Answer) -> dict:
    return {
        "id": a.id, "status": a.status, "generator": a.generator, "model": a.model, "reason": a.reason,
        "text": a.text, "escalation_hint": a.escalation_hint, "query": a.query,
        "citations": [
            {"n": c.n, "title": c.title, "url": c.url, "updated_at": c.updated_at, "stale": c.stale,
             "stale_reason": c.stale_reason, "document_id": c.document_id}
            for c in a.citations
        ],
        "prompt_tokens": a.prompt_tokens, "completion_tokens": a.completion_tokens, "cost_usd": a.cost_usd,
        "latency_ms": a.latency_ms, "fallbacks": a.fallbacks, "confidence": a.confidence,
    }


def print_answer(a: Answer) -> None:
    console.print(a.text, highlight=False)
    if a.escalation_hint:
        console.print(f"[dim]{a.escalation_hint}[/dim]", highlight=False)
    if a.citations:
        console.print("\n[bold]Sources[/bold]")
    for c in a.citations:
        badge = " ⚠️ stale" if c.stale else ""
        console.print(f"  [{c.n}] {c.title} — {c.url or c.document_id} ({freshness(c.updated_at)}){badge}", highlight=False)
    for step in a.fallbacks:
        console.print(f"[yellow]fallback:[/yellow] {step['role']} model {step['model']} failed: {step['error']}", highlight=False)
    console.print(
        f"[dim]{a.status} · {a.model or a.generator} · {a.prompt_tokens}+{a.completion_tokens} tokens · "
        f"${a.cost_usd:.5f} · {a.latency_ms.get('total', 0):.0f} ms[/dim]"
    )


def register(app: typer.Typer) -> None:
    @app.command()
    def ask(
        ctx: typer.Context,
        question: str,
        history_file: Optional[Path] = typer.Option(None, help="Earlier turns: JSON list of {role, text}."),
        source: list[str] = typer.Option([], help="Only these sources."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Answer a question with numbered sources, as the bot would."""
        if not question.strip():
            fail("ask needs a question")
        history = load_history(history_file) if history_file else []
        result = services(ctx).answerer.answer(question, history=history, filters=Filters(sources=source))
        print_json(answer_json(result)) if as_json else print_answer(result)
