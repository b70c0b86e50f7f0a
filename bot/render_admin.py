"""Block Kit and text for operators: App Home, `/supportbot-admin status | stale | reindex`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.mrkdwn import escape, link, truncate
from bot.render import MAX_BLOCKS, SECTION_LIMIT, context, freshness, section
from knowledge.health import AnswerStats, KbHealth
from knowledge.operations import RefreshOutcome

ADMIN_USAGE = (
    "Usage: `/supportbot-admin reindex [source]` · `/supportbot-admin status` · `/supportbot-admin stale`"
)
DENIED = ":no_entry: `/supportbot-admin` is for the bot's operators. Ask an admin to add you to the operators."
_STATUS_ICON = {"succeeded": ":white_check_mark:", "partial": ":warning:", "failed": ":x:", "running": ":hourglass_flowing_sand:"}


def _sync_line(status: str | None, at: datetime | None, counts: dict[str, int], errors: int) -> str:
    if status is None:
        return "never synced"
    parts = [f"{_STATUS_ICON.get(status, '')} last sync {status}", freshness(at).replace("updated ", "")]
    if counts:
        parts.append(", ".join(f"{v} {k}" for k, v in counts.items() if v))
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    return " · ".join(p for p in parts if p)


def health_blocks(health: KbHealth, running: Sequence[str] = ()) -> list[dict]:
    lines = [
        f"*{escape(s.name)}* ({escape(s.kind)}) — {s.documents} documents"
        + (f", {s.stale} stale" if s.stale else "")
        + f" · {_sync_line(s.last_sync_status, s.last_sync_at, s.last_sync_counts, s.last_sync_errors)}"
        + (" · :arrows_counterclockwise: syncing now" if s.name in running else "")
        for s in health.sources
    ] or ["No help-center source is configured yet (`supportbot sources add …`)."]
    head = f"*Knowledge base* — {health.documents} documents, {health.stale} stale"
    return [section(truncate("\n".join([head, *lines]), SECTION_LIMIT))]


def stats_blocks(stats: AnswerStats) -> list[dict]:
    rate = f"{stats.up_rate:.0%}" if stats.up_rate is not None else "no votes yet"
    return [section(
        f"*Last {stats.days} days* — {stats.total} question{'s' if stats.total != 1 else ''}: {stats.answered} answered, {stats.refused} refused, "
        f"{stats.fallback} excerpt fallbacks, {stats.escalated} escalated\n"
        f"👍 rate: {rate} ({stats.thumbs_up} 👍 / {stats.thumbs_down} 👎)"
    )]


def home_view(health: KbHealth, stats: AnswerStats) -> dict[str, Any]:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Support assistant"}},
        context("Mention me in a channel or send me a DM to get an answer from the help center, with sources. "
                "`/cite <question>` shows matching articles privately."),
        {"type": "divider"},
        *health_blocks(health),
        *stats_blocks(stats),
    ]
    return {"type": "home", "blocks": blocks[:MAX_BLOCKS]}


def stale_blocks(items: Sequence[Any]) -> list[dict]:
    """Rows with `title`, `url`, `reason`, `owner` (from knowledge.stale.list_stale)."""
    if not items:
        return [section(":white_check_mark: No stale documents.")]
    lines = [
        f"• {link(getattr(i, 'url', None), getattr(i, 'title', ''))} — {escape(getattr(i, 'reason', '') or '')}"
        + (f" (owner: {escape(i.owner)})" if getattr(i, "owner", None) else "")
        for i in items
    ]
    return [section(truncate(f"*{len(items)} stale documents*\n" + "\n".join(lines), SECTION_LIMIT))]


def reindex_started(name: str | None) -> str:
    return f":arrows_counterclockwise: Reindex of {'`' + escape(name) + '`' if name else 'every source'} started. I'll report here when it finishes."


def reindex_result(outcomes: Sequence[RefreshOutcome]) -> str:
    if not outcomes:
        return "Nothing to reindex: no source is configured."
    lines = []
    for o in outcomes:
        if o.skipped:
            lines.append(f":hourglass_flowing_sand: `{escape(o.source)}`: already running — {escape(o.skipped)}")
            continue
        r = o.report
        counts = f"{r.added} added, {r.updated} updated, {r.unchanged} unchanged, {r.deleted} deleted, {r.failed} failed"
        errors = "; ".join(escape(truncate(e.get("reason", ""), 200)) for e in r.errors[-3:])
        lines.append(f"{_STATUS_ICON.get(r.status, '')} `{escape(o.source)}` {r.status}: {counts}" + (f"\n    errors: {errors}" if errors else ""))
    return truncate("*Reindex finished*\n" + "\n".join(lines), SECTION_LIMIT)
