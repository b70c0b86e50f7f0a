"""Loopback HTTP server base for protocol-level fakes.

Tests run the real client libraries (openai, slack_sdk, slack_bolt) against
subclasses of :class:`LoopbackServer`, so every request really crosses a
socket and is encoded/decoded exactly as in production. Standard library only.

Subclasses declare routes with the :func:`route` decorator::

    class Echo(LoopbackServer):
        @route("POST", "/echo/{name}")
        def echo(self, req: Recorded, name: str) -> Response:
            return json_response({"name": name, "got": req.json})
"""

from __future__ import annotations

import json as _json
import re
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Self
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "LoopbackServer",
    "Recorded",
    "Response",
    "UploadedFile",
    "json_response",
    "route",
]

# (status, headers, body). body may be bytes, str, or a JSON-serialisable
# dict/list (encoded as application/json unless headers say otherwise).
Response = tuple[int, dict[str, str], Any]


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart/form-data body."""

    filename: str | None
    content_type: str | None
    content: bytes


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # header names lower-cased
    body: bytes
    json: Any | None
    form: dict[str, str] | None  # urlencoded fields, or multipart text fields
    files: dict[str, UploadedFile] = field(default_factory=dict)
    at: float = 0.0  # time.monotonic() when the request arrived

    @property
    def params(self) -> dict[str, Any]:
        """Query, form and JSON-object arguments merged (body wins)."""
        merged: dict[str, Any] = dict(self.query)
        if self.form:
            merged.update(self.form)
        if isinstance(self.json, dict):
            merged.update(self.json)
        return merged

    @property
    def bearer_token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return status, {"Content-Type": "application/json", **(headers or {})}, obj


def route(method: str, pattern: str, *, delay: float = 0.0) -> Callable:
    """Mark a method as the handler for ``method`` + ``pattern``.

    ``{name}`` in the pattern matches one path segment and is passed to the
    handler as a keyword argument. ``delay`` sleeps before handling (useful
    for client-timeout tests); see also :meth:`LoopbackServer.set_delay`.
    """

    def decorate(fn: Callable) -> Callable:
        fn.__dict__.setdefault("_routes", []).append((method.upper(), pattern, delay))
        return fn

    return decorate


def _compile(pattern: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", re.escape(pattern).replace(r"\{", "{").replace(r"\}", "}"))
    return re.compile(f"^{regex}$")


@dataclass
class _Route:
    method: str
    regex: re.Pattern[str]
    handler_name: str
    delay: float


class LoopbackServer:
    """Threaded HTTP/1.1 server on 127.0.0.1:<ephemeral> that records requests.

    Use as a context manager, or call :meth:`start` / :meth:`stop`.
    """

    _routes: list[_Route] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Collect decorated handlers across the MRO; subclasses' routes first
        # so they can shadow a parent's.
        routes: list[_Route] = []
        seen: set[str] = set()
        for klass in cls.__mro__:
            for name, attr in vars(klass).items():
                if name in seen or not callable(attr):
                    continue
                seen.add(name)
                for method, pattern, delay in getattr(attr, "_routes", ()):
                    routes.append(_Route(method, _compile(pattern), name, delay))
        cls._routes = routes

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._cond = threading.Condition()
        self._requests: list[Recorded] = []
        self._delays: list[tuple[str, float]] = []
        self._conns: set[socket.socket] = set()
        self.errors: list[BaseException] = []  # exceptions raised inside handlers

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._stopping.clear()
        self._httpd = ThreadingHTTPServer((self._host, 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping in a delay
        self._httpd.shutdown()
        # Keep-alive connections would otherwise keep being served by their
        # handler threads after "stop"; cut them so clients see a dead server.
        with self._cond:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start()")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- recording -----------------------------------------------------------

    @property
    def requests(self) -> list[Recorded]:
        """Snapshot of every request received so far, in arrival order."""
        with self._cond:
            return list(self._requests)

    def calls(self, path_suffix: str, method: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if r.path.endswith(path_suffix) and (method is None or r.method == method.upper())
        ]

    def clear_requests(self) -> None:
        with self._cond:
            self._requests.clear()

    def wait_for_calls(self, path_suffix: str, count: int = 1, timeout: float = 5.0) -> list[Recorded]:
        """Block until at least ``count`` requests ended with ``path_suffix``.

        For code under test that calls out from a background thread (e.g. Bolt
        listeners that ack first and work afterwards).
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [r for r in self._requests if r.path.endswith(path_suffix)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"expected {count} call(s) to *{path_suffix}, got {len(found)} within {timeout}s"
                    )
                self._cond.wait(remaining)

    def set_delay(self, path_suffix: str, seconds: float) -> None:
        """Delay every request whose path ends with ``path_suffix`` (0 removes)."""
        with self._cond:
            self._delays = [(s, d) for s, d in self._delays if s != path_suffix]
            if seconds > 0:
                self._delays.append((path_suffix, seconds))

    def sleep(self, seconds: float) -> bool:
        """Interruptible sleep for handlers; returns False if the server stopped."""
        return not self._stopping.wait(seconds)

    # -- hooks for subclasses --------------------------------------------------

    def before_route(self, req: Recorded) -> Response | None:
        """Runs before the handler; return a response to short-circuit it."""
        return None

    def unrouted(self, req: Recorded) -> Response:
        return json_response({"error": f"no route for {req.method} {req.path}"}, 404)

    # -- internals --------------------------------------------------------------

    def _record(self, req: Recorded) -> None:
        with self._cond:
            self._requests.append(req)
            self._cond.notify_all()

    def _dispatch(self, req: Recorded) -> Response:
        self._record(req)
        match: tuple[_Route, dict[str, str]] | None = None
        for r in self._routes:
            if r.method != req.method:
                continue
            m = r.regex.match(req.path)
            if m:
                match = (r, m.groupdict())
                break
        with self._cond:
            delay = max([d for s, d in self._delays if req.path.endswith(s)], default=0.0)
        if match is not None:
            delay = max(delay, match[0].delay)
        if delay and not self.sleep(delay):
            return 503, {}, b""
        try:
            early = self.before_route(req)
            if early is not None:
                return early
            if match is None:
                return self.unrouted(req)
            route_, params = match
            return getattr(self, route_.handler_name)(req, **params)
        except Exception as exc:  # surface handler bugs loudly instead of hanging clients
            self.errors.append(exc)
            return 500, {"Content-Type": "text/plain"}, traceback.format_exc()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real services
    disable_nagle_algorithm = True  # headers and body are separate writes; avoid 40 ms ACK stalls
    fake: LoopbackServer

    def setup(self) -> None:
        super().setup()
        with self.fake._cond:
            self.fake._conns.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.fake._cond:
                self.fake._conns.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def _handle(self) -> None:
        body = self._read_body()
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        json_body, form, files = _parse_body(headers.get("content-type", ""), body)
        req = Recorded(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers=headers,
            body=body,
            json=json_body,
            form=form,
            files=files,
            at=time.monotonic(),
        )
        status, resp_headers, resp_body = self.fake._dispatch(req)
        self._write(status, resp_headers, resp_body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # consume trailers up to the blank line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _write(self, status: int, headers: dict[str, str], body: Any) -> None:
        headers = dict(headers)
        if isinstance(body, (dict, list)):
            payload = _json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            payload = body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            payload = body or b""
        try:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, str(value))
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # Client gave up (e.g. its timeout fired during a delay).
            self.close_connection = True


def _content_params(value: str) -> tuple[str, Message]:
    msg = Message()
    msg["content-type"] = value
    return msg.get_content_type(), msg


def _parse_body(
    content_type: str, body: bytes
) -> tuple[Any | None, dict[str, str] | None, dict[str, UploadedFile]]:
    if not body:
        return None, None, {}
    ctype, msg = _content_params(content_type or "application/octet-stream")
    if ctype == "application/x-www-form-urlencoded":
        return None, dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)), {}
    if ctype == "multipart/form-data":
        form, files = _parse_multipart(body, str(msg.get_param("boundary", "")))
        return None, form, files
    if "json" in ctype or not content_type:
        try:
            return _json.loads(body), None, {}
        except ValueError:
            return None, None, {}
    return None, None, {}


def _parse_multipart(body: bytes, boundary: str) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    # Hand-rolled (rather than the email package) so file bytes round-trip exactly.
    form: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break  # closing delimiter
        part = part.removeprefix(b"\r\n")
        raw_head, _, content = part.partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        head = Message()
        for line in raw_head.decode("utf-8").split("\r\n"):
            name, _, value = line.partition(":")
            if name:
                head[name.strip()] = value.strip()
        name = head.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = head.get_param("filename", header="content-disposition")
        if filename is None:
            form[name] = content.decode("utf-8")
        else:
            files[name] = UploadedFile(
                filename=str(filename), content_type=head.get("content-type"), content=content
            )
    return form, files
