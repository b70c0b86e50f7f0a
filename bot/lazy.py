"""Ack now, work later: every listener acknowledges at once and does its work in Bolt's bounded
listener pool (lazy listeners), so Slack gets its 200 well within 3 s however slow the model is."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_bolt.kwargs_injection.args import Args

from bot.errors import report
from bot.logs import event_context


def ack_now(ack: Ack) -> None:
    ack()


def guarded(func: Callable[..., None]) -> Callable[[Args], None]:
    """Wrap a lazy listener: Bolt only logs what a lazy listener raises, so send it to `report` too."""
    wanted = inspect.getfullargspec(func).args

    def run(args: Args) -> None:
        with event_context((args.body or {}).get("event_id")):
            try:
                func(**{name: getattr(args, name) for name in wanted})
            except Exception as exc:
                report(exc, args.body, args.client, args.respond)

    run.__name__ = run.__qualname__ = func.__name__  # Bolt tells lazy listeners apart by name
    return run


def later(*work: Callable[..., None], ack: Callable[..., Any] = ack_now) -> dict[str, Any]:
    """Listener kwargs: `app.action(ID)(**later(handler))`."""
    return {"ack": ack, "lazy": [guarded(func) for func in work]}
