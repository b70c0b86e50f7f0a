"""Shared CLI plumbing: one Services per invocation, console output, JSON output."""

from __future__ import annotations

import getpass
import json
from typing import Any, NoReturn

import typer
from rich.console import Console

from bot.app import Services, build_services
from bot.settings import Settings

console = Console()
err_console = Console(stderr=True)


def services(ctx: typer.Context) -> Services:
    """Build the services once per command (Settings are read here, at the edge)."""
    root = ctx.find_root()
    if root.obj is None:
        root.obj = build_services(Settings())
    return root.obj


def cli_user() -> str:
    """Who ran a command, for job records ("cli" when the OS cannot tell, e.g. in some containers)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    raise SystemExit(code)


def print_json(data: Any) -> None:
    # Plain print: rich would wrap long lines and break machine parsing.
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False))
