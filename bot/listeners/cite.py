"""`/cite <question>`: the top matching sources, privately, without generating an answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, Respond

from bot.lazy import later
from bot.render import CITE_USAGE, cite_blocks
from knowledge.retrieval import search

if TYPE_CHECKING:
    from bot.app import Services

TOP = 5


def register(app: App, services: Services) -> None:
    policy = services.policy

    def ack_or_usage(ack: Ack, command: dict[str, Any]) -> None:
        ack() if command.get("text", "").strip() else ack(text=CITE_USAGE)

    def cite(command: dict[str, Any], respond: Respond) -> None:
        query = command.get("text", "").strip()
        if not query:
            return
        with services.sessions() as session:
            hits = search(
                session, query, embedder=services.embedder, k=TOP, max_per_doc=1,
                filters=policy.filters_for(command.get("channel_id")),
                stale_factor=services.answer_config.stale_factor,
            )
        respond(text=f"Top sources for “{query}”", blocks=cite_blocks(query, hits), response_type="ephemeral")

    app.command("/cite")(**later(cite, ack=ack_or_usage))
