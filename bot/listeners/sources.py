""""Show sources": the passages an answer was built from, shown only to whoever asked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import App, Respond

from bot.lazy import later
from bot.render import SHOW_SOURCES, passages_blocks
from knowledge.feedback import answer_passages

if TYPE_CHECKING:
    from bot.app import Services


def register(app: App, services: Services) -> None:
    def show_sources(action: dict[str, Any], respond: Respond) -> None:
        with services.sessions() as session:
            passages = answer_passages(session, int(action["value"]))
        respond(text="Passages this answer used", blocks=passages_blocks(passages),
                response_type="ephemeral", replace_original=False)

    app.action(SHOW_SOURCES)(**later(show_sources))
