"""Serving the Slack app: HTTP (`/slack/events` + `/healthz`) or Socket Mode, until told to stop."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler

from knowledge.errors import ConfigurationError

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # One thread per request: a slow client or a burst of events never queues the others' acks.
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)


def wsgi_app(
    app: App | None, healthy: Callable[[], bool], metrics: Callable[[], bytes] | None = None
) -> Callable[..., Iterable[bytes]]:
    """`/healthz`, `/metrics` (Prometheus) when given, plus `/slack/events` when given the app (in
    Socket Mode events come over the socket)."""
    slack = SlackRequestHandler(app, path=EVENTS_PATH) if app is not None else None

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if metrics is not None and environ.get("PATH_INFO") == METRICS_PATH:
            try:
                body = metrics()
            except Exception:  # a scrape must not take the bot down; Prometheus shows the gap
                log.warning("metrics unavailable", exc_info=True)
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                return [b"metrics unavailable\n"]
            start_response("200 OK", [("Content-Type", METRICS_TYPE)])
            return [body]
        if environ.get("PATH_INFO") == HEALTH_PATH:
            ok = healthy()
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"ok\n" if ok else b"database unreachable\n"]
        if slack is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not Found\n"]
        return slack(environ, start_response)

    return application


class HttpServer:
    """The bot's HTTP endpoint on a background thread (`port=0` picks a free port)."""

    def __init__(self, app: App | None, *, host: str, port: int, healthy: Callable[[], bool],
                 metrics: Callable[[], bytes] | None = None) -> None:
        try:
            self._httpd = make_server(host, port, wsgi_app(app, healthy, metrics), server_class=_ThreadingServer,
                                      handler_class=_Handler)
        except OSError as exc:
            raise ConfigurationError(f"cannot listen on {host}:{port} ({exc.strerror}); set SLACK_HTTP_PORT") from exc
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="slack-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def drain(app: App) -> None:
    """Let answers already being written finish (the listener pool takes no new work after this)."""
    app.listener_runner.listener_executor.shutdown(wait=True, cancel_futures=False)


def serve(app: App, *, stop: threading.Event, app_token: str | None, host: str, port: int,
          healthy: Callable[[], bool], metrics: Callable[[], bytes] | None = None) -> None:
    """Serve until `stop` is set (SIGTERM), then stop taking events and drain the work in flight."""
    # Socket Mode still serves /healthz and /metrics, for health checks, probes and scrapes.
    server = HttpServer(None if app_token else app, host=host, port=port, healthy=healthy, metrics=metrics).start()
    handler = SocketModeHandler(app, app_token) if app_token else None
    try:
        if handler is not None:
            handler.connect()
            log.info("connected to Slack in Socket Mode; health on %s%s", server.url, HEALTH_PATH)
        else:
            log.info("listening on %s%s (health: %s)", server.url, EVENTS_PATH, HEALTH_PATH)
        stop.wait()
    finally:
        if handler is not None:
            handler.close()
        server.stop()
    log.info("stopping: waiting for answers in progress")
    drain(app)
