"""`supportbot` command line. Commands live in small modules that each `register(app)`."""

from __future__ import annotations

import logging

import typer
from pydantic import ValidationError

from bot.cli import answers, finetune, jobs, kb, run, stats
from bot.cli.common import console, fail
from bot.configdoc import render_reference
from knowledge.errors import SupportBotError

app = typer.Typer(
    help="Slack support assistant: grounded, cited answers from your help center.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
kb.register(app)
answers.register(app)
jobs.register(app)
run.register(app)
finetune.register(app)
stats.register(app)


@app.command("config-doc")
def config_doc() -> None:
    """Print the configuration reference (every variable, default, meaning) as Markdown."""
    print(render_reference(), end="")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except SupportBotError as exc:
        fail(str(exc))
    except ValidationError as exc:
        fail("Invalid configuration:\n" + "\n".join(_describe(e) for e in exc.errors()))
    except KeyboardInterrupt:
        console.print("interrupted")
        raise SystemExit(130) from None


def _describe(error: dict) -> str:
    field = ".".join(str(p) for p in error.get("loc", ())) or "settings"
    return f"  {field.upper()}: {error.get('msg')}"
