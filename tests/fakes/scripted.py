"""A `LoopbackServer` that can be told to misbehave: canned responses or stalls queued per path,
served before the normal handler (429 with Retry-After, 503 then success, a request that hangs)."""

from __future__ import annotations

from collections import deque
from typing import Any

from fakes.http import LoopbackServer, Recorded, Response


class ScriptedServer(LoopbackServer):
    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self._scripts: list[tuple[str, deque[Any]]] = []

    def script(self, path_suffix: str, *steps: Response | float) -> None:
        """Queue steps for requests whose path ends with `path_suffix`, one step per request: a
        response tuple is returned as is; a number stalls that many seconds, then serves normally."""
        with self._cond:
            self._scripts.append((path_suffix, deque(steps)))

    def before_route(self, req: Recorded) -> Response | None:
        step = None
        with self._cond:
            for suffix, queue in self._scripts:
                if queue and req.path.endswith(suffix):
                    step = queue.popleft()
                    break
        if isinstance(step, (int, float)):
            if not self.sleep(step):
                return 503, {}, b""
            return None
        return step
