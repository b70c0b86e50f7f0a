"""A fake of the OpenAI REST API (``/v1``) for the real ``openai`` SDK.

    with FakeOpenAI() as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0)
        server.enqueue("first answer", Fault(500, retry_after_ms=1), "second answer")

Covers embeddings, chat completions (incl. streaming), files and fine-tuning
jobs. Error bodies use OpenAI's ``{"error": {message, type, param, code}}``
shape so the SDK raises the same exception classes as in production.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import re
import struct
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from .http import LoopbackServer, Recorded, Response, json_response, route

__all__ = ["FakeOpenAI", "Fault", "Delay", "embed_text", "openai_error"]

REFUSAL_MESSAGE = (
    "Fine-tuning job creation is no longer available for this organization: OpenAI has wound down "
    "its self-serve fine-tuning platform. Existing fine-tuned models remain available for inference."
)

_STATUS_ERRORS: dict[int, tuple[str, str, str | None]] = {
    # status: (message, type, code) -- modelled on the real API's bodies
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to perform this operation.", "invalid_request_error", None),
    404: ("The requested resource was not found.", "invalid_request_error", None),
    409: ("Conflict.", "invalid_request_error", None),
    429: ("Rate limit reached for requests. Please try again shortly.", "requests", "rate_limit_exceeded"),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


def openai_error(
    status: int,
    message: str | None = None,
    *,
    type: str | None = None,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    default_msg, default_type, default_code = _STATUS_ERRORS.get(
        status, ("Request failed.", "server_error" if status >= 500 else "invalid_request_error", None)
    )
    body = {
        "error": {
            "message": message or default_msg,
            "type": type or default_type,
            "param": param,
            "code": code if code is not None else default_code,
        }
    }
    return json_response(body, status, headers)


@dataclass
class Fault:
    """A scripted error response.

    ``body`` may be a dict (sent as JSON), str/bytes (sent raw) or None (an
    OpenAI error body matching ``status``). ``retry_after`` / ``retry_after_ms``
    set the headers the SDK's retry loop honours. Note the SDK ignores a
    ``retry-after`` of 0 and falls back to ~0.5 s backoff; use
    ``retry_after_ms=1`` for fast retry tests.
    """

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    code: str | None = None
    retry_after: float | None = None
    retry_after_ms: int | None = None

    def response(self) -> Response:
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["retry-after"] = _num(self.retry_after)
        if self.retry_after_ms is not None:
            headers["retry-after-ms"] = str(self.retry_after_ms)
        if self.body is None:
            return openai_error(self.status, self.message, code=self.code, headers=headers)
        if isinstance(self.body, (dict, list)):
            return json_response(self.body, self.status, headers)
        return self.status, {"Content-Type": "application/json", **headers}, self.body


@dataclass
class Delay:
    """Sleep ``seconds`` server-side, then answer with ``then`` (reply text,
    a :class:`Fault`, or None for the default reply). For client-timeout tests."""

    seconds: float
    then: "str | Fault | None" = None


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _count_tokens(text: str) -> int:
    # Crude but deterministic stand-in for tiktoken: whitespace-separated words.
    return len(text.split())


def embed_text(text: str | list[int], dimensions: int) -> list[float]:
    """Deterministic unit vector: signed feature hashing of word tokens.

    Texts sharing words get a positive cosine similarity, which is enough for
    retrieval tests to be meaningful. Exposed so tests can compute expected
    vectors without a server.
    """
    tokens = [str(t) for t in text] if isinstance(text, list) else _words(text)
    if not tokens:  # punctuation-only text still gets a stable, non-zero vector
        tokens = [str(text)]
    vec = [0.0] * dimensions
    for tok in tokens:
        digest = hashlib.blake2b(tok.encode(), digest_size=8).digest()
        idx = int.from_bytes(digest[:4], "little") % dimensions
        vec[idx] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vec))
    if norm == 0:  # hash collisions cancelled out exactly; fall back to one axis
        vec[0], norm = 1.0, 1.0
    return [v / norm for v in vec]


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _new_id(prefix: str, n: int = 24) -> str:
    return f"{prefix}{uuid.uuid4().hex[:n]}"


class FakeOpenAI(LoopbackServer):
    """OpenAI ``/v1`` fake.

    Scripting:
      * ``enqueue(*items)`` -- chat replies in order: str, :class:`Fault`, :class:`Delay`.
      * ``default_reply`` -- str, or ``callable(request_json) -> str``, used when the queue is empty.
      * ``fail_next(path_suffix, *faults)`` -- fail any endpoint (e.g. ``"/embeddings"``).
      * ``missing_models`` -- model names answered with 404 ``model_not_found``.
      * ``job_outcome`` -- ``"succeeded"`` or ``"failed"`` for fine-tuning jobs.
      * ``refuse_new_jobs`` / ``refusal_status`` -- fine-tuning shutdown simulation.
    """

    def __init__(
        self,
        *,
        embedding_dimensions: int = 64,
        default_reply: str | Callable[[dict], str] = "This is a fake answer.",
        organization: str = "tandem",
        min_training_examples: int = 10,
    ) -> None:
        super().__init__()
        self.embedding_dimensions = embedding_dimensions
        self.default_reply = default_reply
        self.organization = organization
        self.min_training_examples = min_training_examples  # the real API requires >= 10
        self.missing_models: set[str] = set()
        self.job_outcome: str = "succeeded"
        self.refuse_new_jobs = False
        self.refusal_status = 400
        self.refusal_message = REFUSAL_MESSAGE
        self.embedded_inputs = 0
        self.files: dict[str, dict[str, Any]] = {}  # id -> {"object": FileObject dict, "content": bytes}
        self.jobs: dict[str, dict[str, Any]] = {}  # id -> FineTuningJob dict
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._replies: deque[str | Fault | Delay] = deque()
        self._faults: list[tuple[str, deque[Fault]]] = []
        self._lock = threading.RLock()
        self._clock = itertools.count(int(time.time()))

    # -- scripting API ---------------------------------------------------------

    def enqueue(self, *items: str | Fault | Delay) -> None:
        with self._lock:
            self._replies.extend(items)

    def fail_next(self, path_suffix: str, *faults: Fault) -> None:
        """Answer the next request(s) to ``*path_suffix`` with ``faults`` in order."""
        with self._lock:
            self._faults.append((path_suffix, deque(faults or (Fault(),))))

    def chat_requests(self) -> list[dict[str, Any]]:
        """JSON bodies of every chat completion request (model, messages, ...)."""
        return [r.json for r in self.calls("/chat/completions", "POST")]

    def add_file(self, content: bytes, filename: str = "train.jsonl", purpose: str = "fine-tune") -> str:
        """Seed an uploaded file without going through the API; returns its id."""
        return self._store_file(content, filename, purpose)["id"]

    # -- hooks -----------------------------------------------------------------

    def before_route(self, req: Recorded) -> Response | None:
        if not req.bearer_token:
            return openai_error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization "
                "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                code=None,
            )
        with self._lock:
            for suffix, queue in self._faults:
                if queue and req.path.endswith(suffix):
                    return queue.popleft().response()
        return None

    def unrouted(self, req: Recorded) -> Response:
        return openai_error(404, f"Invalid URL ({req.method} {req.path})", code=None)

    def _respond(self, obj: Any, status: int = 200) -> Response:
        return json_response(obj, status, {"x-request-id": _new_id("req_", 32), "openai-processing-ms": "1"})

    def _model_missing(self, model: str) -> Response | None:
        if model in self.missing_models:
            return openai_error(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        return None

    # -- models --------------------------------------------------------------

    @route("GET", "/v1/models/{model}")
    def retrieve_model(self, req: Recorded, model: str) -> Response:
        return self._model_missing(model) or self._respond(
            {"id": model, "object": "model", "created": 1700000000, "owned_by": "system"}
        )

    # -- embeddings ------------------------------------------------------------

    @route("POST", "/v1/embeddings")
    def embeddings(self, req: Recorded) -> Response:
        body = req.json if isinstance(req.json, dict) else {}
        model = body.get("model")
        if not model:
            return _missing_param("model")
        if missing := self._model_missing(model):
            return missing
        inputs = _normalise_inputs(body.get("input"))
        if inputs is None:
            return openai_error(
                400,
                "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
                code=None,
            )
        dims = int(body.get("dimensions") or self.embedding_dimensions)
        fmt = body.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            return openai_error(400, f"Invalid value for 'encoding_format': '{fmt}'.", param="encoding_format")
        data = []
        for i, text in enumerate(inputs):
            vec = embed_text(text, dims)
            # The SDK asks for base64 by default and decodes little-endian float32.
            encoded: Any = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if fmt == "base64" else vec
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        tokens = sum(len(t) if isinstance(t, list) else _count_tokens(t) for t in inputs)
        with self._lock:
            self.embedded_inputs += len(inputs)
        return self._respond(
            {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        )

    # -- chat completions --------------------------------------------------------

    @route("POST", "/v1/chat/completions")
    def chat_completions(self, req: Recorded) -> Response:
        body = req.json if isinstance(req.json, dict) else {}
        model = body.get("model")
        if not model:
            return _missing_param("model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return openai_error(
                400, "Invalid 'messages': empty array. Expected an array with minimum length 1.", param="messages"
            )
        if missing := self._model_missing(model):
            return missing

        with self._lock:
            item: str | Fault | Delay | None = self._replies.popleft() if self._replies else None
        if isinstance(item, Delay):
            if not self.sleep(item.seconds):
                return 503, {}, b""
            item = item.then
        if isinstance(item, Fault):
            return item.response()
        if item is None:
            item = self.default_reply(body) if callable(self.default_reply) else self.default_reply
        content = str(item)

        prompt_tokens = sum(_count_tokens(_message_text(m.get("content"))) for m in messages)
        completion_tokens = _count_tokens(content)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        completion_id = _new_id("chatcmpl-", 29)
        created = int(time.time())
        n = int(body.get("n") or 1)
        if body.get("stream"):
            return self._stream(completion_id, created, model, content, n, usage, body)
        return self._respond(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                    for i in range(n)
                ],
                "usage": usage,
                "service_tier": "default",
                "system_fingerprint": None,
            }
        )

    def _stream(
        self, cid: str, created: int, model: str, content: str, n: int, usage: dict, body: dict
    ) -> Response:
        # Server-sent events, sent in one go: the SDK only cares about framing.
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(choices: list[dict], **extra: Any) -> str:
            obj = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": None,
                "choices": choices,
                **({"usage": None} if include_usage else {}),
                **extra,
            }
            return f"data: {json.dumps(obj)}\n\n"

        pieces = re.findall(r"\S+\s*|\s+", content) or [""]
        events = []
        for i in range(n):
            events.append(chunk([{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]))
            events += [chunk([{"index": i, "delta": {"content": p}, "finish_reason": None}]) for p in pieces]
            events.append(chunk([{"index": i, "delta": {}, "finish_reason": "stop"}]))
        if include_usage:
            events.append(chunk([], usage=usage))
        events.append("data: [DONE]\n\n")
        return 200, {"Content-Type": "text/event-stream", "x-request-id": _new_id("req_", 32)}, "".join(events)

    # -- files -------------------------------------------------------------------

    def _store_file(self, content: bytes, filename: str, purpose: str) -> dict[str, Any]:
        obj = {
            "id": _new_id("file-"),
            "object": "file",
            "bytes": len(content),
            "created_at": next(self._clock),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": None,
        }
        with self._lock:
            self.files[obj["id"]] = {"object": obj, "content": content}
        return obj

    def _file_not_found(self, file_id: str) -> Response:
        return openai_error(404, f"No such File object: {file_id}", param="id")

    @route("POST", "/v1/files")
    def create_file(self, req: Recorded) -> Response:
        purpose = (req.form or {}).get("purpose")
        upload = req.files.get("file")
        if not purpose:
            return _missing_param("purpose")
        if upload is None:
            return _missing_param("file")
        return self._respond(self._store_file(upload.content, upload.filename or "upload", purpose))

    @route("GET", "/v1/files")
    def list_files(self, req: Recorded) -> Response:
        with self._lock:
            data = [f["object"] for f in self.files.values()]
        if purpose := req.query.get("purpose"):
            data = [f for f in data if f["purpose"] == purpose]
        return self._respond(_page(data[::-1], req.query, default_limit=10000))

    @route("GET", "/v1/files/{file_id}")
    def retrieve_file(self, req: Recorded, file_id: str) -> Response:
        with self._lock:
            stored = self.files.get(file_id)
        return self._respond(stored["object"]) if stored else self._file_not_found(file_id)

    @route("GET", "/v1/files/{file_id}/content")
    def file_content(self, req: Recorded, file_id: str) -> Response:
        with self._lock:
            stored = self.files.get(file_id)
        if not stored:
            return self._file_not_found(file_id)
        return 200, {"Content-Type": "application/octet-stream"}, stored["content"]

    @route("DELETE", "/v1/files/{file_id}")
    def delete_file(self, req: Recorded, file_id: str) -> Response:
        with self._lock:
            stored = self.files.pop(file_id, None)
        if not stored:
            return self._file_not_found(file_id)
        return self._respond({"id": file_id, "object": "file", "deleted": True})

    # -- fine-tuning -------------------------------------------------------------

    def _job_not_found(self, job_id: str) -> Response:
        return openai_error(404, f"Fine-tuning job {job_id} not found.", param="fine_tuning_job_id")

    def _event(self, job_id: str, message: str, level: str = "info") -> None:
        self._events.setdefault(job_id, []).append(
            {
                "id": _new_id("ftevent-"),
                "object": "fine_tuning.job.event",
                "created_at": next(self._clock),
                "level": level,
                "message": message,
                "data": {},
                "type": "message",
            }
        )

    @route("POST", "/v1/fine_tuning/jobs")
    def create_job(self, req: Recorded) -> Response:
        if self.refuse_new_jobs:
            return openai_error(self.refusal_status, self.refusal_message, code="fine_tuning_unavailable")
        body = req.json if isinstance(req.json, dict) else {}
        model = body.get("model")
        training_file = body.get("training_file")
        if not model:
            return _missing_param("model")
        if not training_file:
            return _missing_param("training_file")
        if missing := self._model_missing(model):
            return missing
        with self._lock:
            for param in ("training_file", "validation_file"):
                fid = body.get(param)
                if fid and fid not in self.files:
                    return openai_error(400, f"invalid {param}: {fid}", param=param, code=None)
            if self.files[training_file]["object"]["purpose"] != "fine-tune":
                return openai_error(
                    400, f"File {training_file} was not uploaded with purpose 'fine-tune'.", param="training_file"
                )
            method = body.get("method") or {"type": "supervised", "supervised": {"hyperparameters": {}}}
            hyper = {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}
            hyper.update(body.get("hyperparameters") or {})
            job = {
                "id": _new_id("ftjob-"),
                "object": "fine_tuning.job",
                "created_at": next(self._clock),
                "error": None,
                "fine_tuned_model": None,
                "finished_at": None,
                "hyperparameters": hyper,
                "model": model,
                "organization_id": f"org-{self.organization}",
                "result_files": [],
                "seed": body.get("seed") if body.get("seed") is not None else 42,
                "status": "validating_files",
                "trained_tokens": None,
                "training_file": training_file,
                "validation_file": body.get("validation_file"),
                "estimated_finish": None,
                "integrations": body.get("integrations") or [],
                "metadata": body.get("metadata"),
                "method": method,
                "user_provided_suffix": body.get("suffix"),
            }
            self.jobs[job["id"]] = job
            self._event(job["id"], f"Created fine-tuning job: {job['id']}")
            self._event(job["id"], f"Validating training file: {training_file}")
            return self._respond(dict(job))

    def _validate_training_file(self, file_id: str) -> str | None:
        """Returns an error message if the JSONL isn't chat-format training data."""
        if file_id not in self.files:
            return f"Training file {file_id} was deleted before validation."
        lines = [ln for ln in self.files[file_id]["content"].decode("utf-8", "replace").splitlines() if ln.strip()]
        for n, line in enumerate(lines, 1):
            try:
                example = json.loads(line)
            except ValueError:
                return f"Invalid file format. Line {n} is not valid JSON."
            if not isinstance(example, dict) or not isinstance(example.get("messages"), list):
                return f"Invalid file format. Line {n}, key \"messages\": missing or not a list."
        if len(lines) < self.min_training_examples:
            return (
                f"Training file has {len(lines)} example(s), but must have at least "
                f"{self.min_training_examples} examples"
            )
        return None

    def _advance(self, job: dict[str, Any]) -> None:
        # Each retrieve moves the job one step: validating_files -> running -> terminal.
        if job["status"] == "validating_files":
            problem = self._validate_training_file(job["training_file"])
            if problem:
                error = {"code": "invalid_training_file", "message": problem, "param": "training_file"}
                self._finish(job, "failed", error)
            else:
                job["status"] = "running"
                self._event(job["id"], "Files validated, moving job to queued state")
                self._event(job["id"], "Fine-tuning job started")
        elif job["status"] == "running":
            if self.job_outcome == "succeeded":
                self._finish(job, "succeeded")
            else:
                self._finish(
                    job,
                    "failed",
                    {"code": "server_error", "message": "The job failed due to an internal error.", "param": None},
                )

    def _finish(self, job: dict[str, Any], status: str, error: dict | None = None) -> None:
        job["status"] = status
        job["finished_at"] = next(self._clock)
        if status == "succeeded":
            suffix = job.get("user_provided_suffix") or ""
            job["fine_tuned_model"] = f"ft:{job['model']}:{self.organization}:{suffix}:{job['id'][-8:]}"
            training = self.files.get(job["training_file"], {}).get("content", b"")
            job["trained_tokens"] = _count_tokens(training.decode("utf-8", "replace"))
            results = self._store_file(b"step,train_loss\n1,0.5\n", "step_metrics.csv", "fine-tune-results")
            job["result_files"] = [results["id"]]
            self._event(job["id"], f"New fine-tuned model created: {job['fine_tuned_model']}")
            self._event(job["id"], "The job has successfully completed")
        else:
            job["error"] = error
            self._event(job["id"], f"The job failed: {error['message'] if error else 'unknown error'}", "error")

    @route("GET", "/v1/fine_tuning/jobs/{job_id}")
    def retrieve_job(self, req: Recorded, job_id: str) -> Response:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return self._job_not_found(job_id)
            self._advance(job)
            return self._respond(dict(job))

    @route("GET", "/v1/fine_tuning/jobs")
    def list_jobs(self, req: Recorded) -> Response:
        with self._lock:
            data = [dict(j) for j in self.jobs.values()][::-1]  # newest first
        return self._respond(_page(data, req.query))

    @route("GET", "/v1/fine_tuning/jobs/{job_id}/events")
    def list_job_events(self, req: Recorded, job_id: str) -> Response:
        with self._lock:
            if job_id not in self.jobs:
                return self._job_not_found(job_id)
            events = list(self._events.get(job_id, []))[::-1]  # newest first, like the API
        return self._respond(_page(events, req.query))

    @route("POST", "/v1/fine_tuning/jobs/{job_id}/cancel")
    def cancel_job(self, req: Recorded, job_id: str) -> Response:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return self._job_not_found(job_id)
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return openai_error(400, f"Job {job_id} has already {job['status']} and cannot be cancelled.")
            job["status"] = "cancelled"
            job["finished_at"] = next(self._clock)
            self._event(job_id, "Fine-tuning job cancelled")
            return self._respond(dict(job))


def _page(items: list[dict], query: dict[str, str], default_limit: int = 20) -> dict[str, Any]:
    """Cursor pagination as the SDK's SyncCursorPage expects (``after`` = last id seen)."""
    if after := query.get("after"):
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    limit = int(query.get("limit") or default_limit)
    return {"object": "list", "data": items[:limit], "has_more": len(items) > limit}


def _missing_param(name: str) -> Response:
    return openai_error(400, f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter")


def _normalise_inputs(raw: Any) -> list[Any] | None:
    """str | list[str] | list[int] | list[list[int]] -> list of str/token lists; None if invalid."""
    if isinstance(raw, str):
        items: list[Any] = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw):
        items = [raw]
    elif isinstance(raw, list) and raw:
        items = raw
    else:
        return None
    for item in items:
        if isinstance(item, str):
            if not item:
                return None
        elif not (isinstance(item, list) and item and all(isinstance(t, int) for t in item)):
            return None
    return items
