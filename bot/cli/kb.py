"""Knowledge-base commands: migrate, sources, sync, search, eval, reindex, demo."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from bot.app import Services, eval_services
from bot.cli.answers import print_answer
from bot.cli.common import cli_user, console, fail, print_json, services
from knowledge import catalog, schema
from knowledge.answer_eval import AnswerEvalReport, evaluate_answers
from knowledge.evaluation import evaluate_retrieval, golden_source_name, load_golden_set, prepare_golden_source
from knowledge.models import Source
from knowledge.operations import RefreshOutcome, refresh_sources
from knowledge.reembed import reembed_all
from knowledge.runs import exclusive_run
from knowledge.retrieval import MODES, Filters, Hit, search
from knowledge.sync import SyncReport

sources_app = typer.Typer(help="Configure help-center sources.", no_args_is_help=True)


@contextlib.contextmanager
def _progress(label: str, *, quiet: bool, total: int | None = None) -> Iterator:
    if quiet:
        yield lambda *_a, **_k: None
        return
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda *_a, advance=1, **_k: bar.update(task, advance=advance)


def sync_all(svc: Services, name: str | None, *, full: bool, trigger: str, quiet: bool) -> list[RefreshOutcome]:
    """Sync one source or all as recorded, exclusive refresh runs (a source being synced by the
    scheduler or an operator right now is skipped, not synced twice)."""
    with _progress("syncing", quiet=quiet) as tick:
        return refresh_sources(
            svc.sessions, name, embedder=svc.embedder, open_source=svc.open_source, trigger=trigger,
            who=cli_user(), full=full, progress=tick, **svc.chunking,
        )


def report_outcomes(outcomes: list[RefreshOutcome], *, as_json: bool, exit_on_failure: bool = True) -> None:
    """Print sync results (JSON: the run records, plus skipped sources); exit 1 if any failed or was skipped."""
    reports = [o.report for o in outcomes if o.report]
    skipped = [o for o in outcomes if o.skipped]
    if as_json:
        print_json([r.as_dict() for r in reports] + [{"source": o.source, "status": "skipped", "reason": o.skipped} for o in skipped])
    else:
        print_reports(reports)
        for o in skipped:
            console.print(f"[yellow]{o.source}[/]: {o.skipped}", highlight=False)
    if exit_on_failure and (skipped or any(r.status == "failed" for r in reports)):
        raise SystemExit(1)


def print_reports(reports: list[SyncReport]) -> None:
    table = Table("source", "status", "added", "updated", "unchanged", "deleted", "failed")
    for r in reports:
        colour = {"succeeded": "green", "partial": "yellow"}.get(r.status, "red")
        table.add_row(r.source, f"[{colour}]{r.status}[/]", *(str(n) for n in (r.added, r.updated, r.unchanged, r.deleted, r.failed)))
    console.print(table)
    for r in reports:
        for err in r.errors[:20]:
            console.print(f"  [yellow]{r.source}[/] {err['document'] or '(source)'}: {err['reason']}", highlight=False)


def print_hits(hits: list[Hit]) -> None:
    if not hits:
        console.print("No matching documents.")
    for n, h in enumerate(hits, 1):
        console.print(f"[bold][{n}] {h.title}[/bold]  score={h.score:.4f}  {h.url or h.external_id}", highlight=False)
        console.print(f"    [dim]{h.breadcrumb}[/dim]", highlight=False)
        snippet = " ".join(h.text.split())
        console.print(f"    {snippet[:240]}{'…' if len(snippet) > 240 else ''}", highlight=False)


def hit_json(h: Hit) -> dict:
    return {
        "document_id": h.external_id, "source": h.source, "title": h.title, "url": h.url,
        "updated_at": h.updated_at, "breadcrumb": h.breadcrumb, "text": h.text, "score": h.score,
        "similarity": h.similarity, "lexical": h.lexical, "chunk_id": h.chunk_id,
    }


def print_answer_report(report: AnswerEvalReport) -> None:
    console.print(f"[bold]{report.headline()}[/bold]")
    console.print(
        f"answered (answerable): {report.answered_rate:.1%} · refused (unanswerable): {report.refusal_rate:.1%} · "
        f"citation validity: {report.citation_validity:.1%} · gold cited: {report.gold_cited_rate:.1%}"
    )
    for d in report.diagnoses:
        if d.verdict != "ok":
            console.print(f"  [yellow]{d.verdict:<11}[/yellow] {d.id}: {d.detail}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(sources_app, name="sources")

    @app.command()
    def migrate(ctx: typer.Context) -> None:
        """Create or upgrade the database schema (also runs automatically on start)."""
        svc = services(ctx)
        schema.upgrade(svc.engine)
        console.print(f"Schema at revision {schema.current_revision(svc.engine)} ({svc.database_location}).")

    @app.command()
    def sync(
        ctx: typer.Context,
        source: Optional[str] = typer.Argument(None, help="Source name; all sources when omitted."),
        full: bool = typer.Option(False, "--full", help="List and fetch everything, not just what changed."),
        as_json: bool = typer.Option(False, "--json", help="Print the run records as JSON."),
    ) -> None:
        """Sync help-center sources into the knowledge base (recorded `refresh` runs)."""
        report_outcomes(sync_all(services(ctx), source, full=full, trigger="cli", quiet=as_json), as_json=as_json)

    @app.command("search")
    def search_cmd(
        ctx: typer.Context,
        question: str,
        mode: str = typer.Option("hybrid", help="hybrid | vector | lexical"),
        k: Optional[int] = typer.Option(None, help="How many chunks."),
        source: list[str] = typer.Option([], help="Only these sources."),
        locale: list[str] = typer.Option([], help="Only these locales."),
        label: list[str] = typer.Option([], help="Only documents with any of these labels."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Show the passages retrieval finds for a question."""
        if mode not in MODES:
            fail(f"--mode must be one of {', '.join(MODES)}")
        svc = services(ctx)
        with svc.sessions() as session:
            hits = search(
                session, question, embedder=svc.embedder, k=k or svc.settings.retrieval_k, mode=mode,
                filters=Filters(sources=source, locales=locale, labels=label),
                max_per_doc=svc.settings.max_chunks_per_doc, stale_factor=svc.settings.stale_rank_factor,
            )
        print_json([hit_json(h) for h in hits]) if as_json else print_hits(hits)

    @app.command("eval")
    def eval_cmd(
        ctx: typer.Context,
        set_dir: Path = typer.Option(..., "--set", help="Golden-set folder (docs/ + questions.jsonl)."),
        mode: str = typer.Option("all", help="hybrid | vector | lexical | all"),
        k: int = typer.Option(10, help="Documents ranked per question."),
        answers: bool = typer.Option(False, "--answers", help="Also evaluate answers: refusals, citations, failure split."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Retrieval quality on a golden set: recall@1/5/10 and MRR@10 over answerable questions;
        with --answers, answer quality and the knowledge-vs-behaviour failure split."""
        modes = MODES if mode == "all" else (mode,)
        if any(m not in MODES for m in modes):
            fail(f"--mode must be one of {', '.join(MODES)} or all")
        golden = load_golden_set(set_dir)
        svc = eval_services(services(ctx))
        with _progress(f"indexing {golden.name}", quiet=as_json) as tick:
            report = prepare_golden_source(svc.sessions, golden, embedder=svc.embedder, progress=tick, **svc.chunking)
        if report.status == "failed":
            fail(f"Could not index {set_dir}: {report.errors}")
        results = {}
        with svc.sessions() as session:
            for m in modes:
                scores = evaluate_retrieval(
                    session, golden, embedder=svc.embedder, mode=m, source=golden_source_name(golden), k=k
                )
                results[m] = scores.as_dict()
        report = evaluate_answers(svc.answerer, golden, source=golden_source_name(golden)) if answers else None
        if as_json:
            print_json(results | ({"answers": report.as_dict()} if report else {}))
            return
        table = Table("mode", "recall@1", "recall@5", "recall@10", "MRR@10", "questions", title=golden.name)
        for m, r in results.items():
            table.add_row(m, *(f"{r[c]:.3f}" for c in ("recall@1", "recall@5", "recall@10", "mrr@10")), str(r["questions"]))
        console.print(table)
        if report:
            print_answer_report(report)

    @app.command()
    def reindex(
        ctx: typer.Context,
        source: Optional[str] = typer.Argument(None, help="Source name; all sources when omitted."),
        full: bool = typer.Option(False, "--full", help="Refetch everything from the source."),
        reembed: bool = typer.Option(False, "--reembed", help="Re-embed every stored document with the configured embedder."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Re-sync sources now; with --reembed, rebuild all vectors first (after changing embedder).

        Runs as recorded `refresh` jobs (trigger cli): a source that is being refreshed already
        (by the scheduler or an operator) is skipped with "already running"."""
        svc = services(ctx)
        if source:
            with svc.sessions() as session:
                catalog.get_source(session, source)
        if reembed:
            embedder = svc.embedder
            with exclusive_run(svc.sessions, "reembed", trigger="cli", who=cli_user(), kb_write="exclusive") as run:
                n = reembed_all(svc.sessions, embedder=embedder, **svc.chunking)
                run.counts = {"documents": n}
            if not as_json:
                console.print(f"Re-embedded {n} documents with {embedder.name} ({embedder.dim} dimensions).")
        report_outcomes(sync_all(svc, source, full=full, trigger="cli", quiet=as_json), as_json=as_json)

    @app.command()
    def demo(ctx: typer.Context) -> None:
        """Offline demo: sync the bundled sample help center and answer a few sample questions."""
        svc = services(ctx)
        console.print(f"Database: {svc.database_location}")
        sample = str(files("knowledge") / "sample_help_center")
        with svc.sessions.begin() as session:
            row = session.scalar(select(Source).where(Source.name == "sample"))
            if row is None:
                catalog.add_source(session, "sample", "folder", {"path": sample})
            elif row.options.get("path") != sample:  # the package moved (reinstall, new checkout)
                row.options = {**row.options, "path": sample}
        generator = svc.settings.chat_model if svc.chat is not None else "extractive (no OPENAI_API_KEY: quoted excerpts)"
        console.print(f"Embedder: {svc.embedder.name} · Answers: {generator}")
        report_outcomes(sync_all(svc, "sample", full=False, trigger="demo", quiet=False), as_json=False, exit_on_failure=False)
        questions = (files("knowledge") / "sample_questions.txt").read_text(encoding="utf-8").splitlines()
        for question in filter(None, (q.strip() for q in questions)):
            console.rule(f"[bold]{question}")
            print_answer(svc.answerer.answer(question, filters=Filters(sources=["sample"])))
        console.rule()
        console.print("Try your own: supportbot ask \"…\" · search only: supportbot search \"…\"")


@sources_app.command("add")
def sources_add(
    ctx: typer.Context,
    name: str,
    kind: str = typer.Option(..., "--kind", help="folder | zendesk | intercom | sitemap"),
    path: Optional[Path] = typer.Option(None, help="folder: the directory of Markdown/HTML files."),
    option: list[str] = typer.Option([], "--option", "-o", help="Extra connector option KEY=VALUE (repeatable)."),
) -> None:
    """Add a help-center source."""
    options: dict = {}
    if path is not None:
        options["path"] = str(path.expanduser().resolve())
    for item in option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--option takes KEY=VALUE, got {item!r}")
        options[key.strip().replace("-", "_")] = value.strip()
    svc = services(ctx)
    with svc.sessions.begin() as session:
        catalog.add_source(session, name, kind, options)
    console.print(f"Added {kind} source {name!r}. Run `supportbot sync {name}` to index it.")


@sources_app.command("list")
def sources_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List sources with document counts and the last sync result."""
    svc = services(ctx)
    with svc.sessions() as session:
        rows = catalog.list_sources(session)
    if as_json:
        print_json([r.__dict__ for r in rows])
        return
    table = Table("name", "kind", "options", "documents", "last sync")
    for r in rows:
        last = f"{r.last_run_status} {r.last_run_finished:%Y-%m-%d %H:%M}" if r.last_run_finished else (r.last_run_status or "never")
        table.add_row(r.name, r.kind, ", ".join(f"{k}={v}" for k, v in r.options.items()), str(r.documents), last)
    console.print(table)


@sources_app.command("remove")
def sources_remove(ctx: typer.Context, name: str, yes: bool = typer.Option(False, "--yes", help="Do not ask.")) -> None:
    """Remove a source and everything indexed from it."""
    if not yes and not typer.confirm(f"Remove source {name!r} and all its documents?"):
        raise typer.Abort()
    svc = services(ctx)
    with svc.sessions.begin() as session:
        catalog.remove_source(session, name)
    console.print(f"Removed {name!r}.")
