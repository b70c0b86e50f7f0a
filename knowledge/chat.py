"""Chat models: the protocol and the adapter for any OpenAI-compatible endpoint."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from knowledge.errors import ModelError, ModelUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    role: str  # system | user | assistant
    content: str


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int



class ChatModel(Protocol):
    def complete(
        self, messages: Sequence[Message], *, model: str, temperature: float = 0.2, max_tokens: int = 600
    ) -> Completion: ...


class OpenAIChatModel:
    """Chat completions through the openai SDK: OpenAI, Azure, vLLM, Ollama, Together, Fireworks…

    The SDK retries 408/409/429/5xx and timeouts `max_retries` times (honouring Retry-After); what
    still fails becomes `ModelUnavailable` (4xx about the model) or `ModelError` (everything else).
    """

    def __init__(self, *, api_key: str, base_url: str | None = None, timeout: float = 30.0, max_retries: int = 2) -> None:
        import openai

        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)
        self.base_url = base_url

    def complete(
        self, messages: Sequence[Message], *, model: str, temperature: float = 0.2, max_tokens: int = 600
    ) -> Completion:
        import openai

        try:
            response = self._client.chat.completions.create(
                model=model,
                messages=[{"role": m.role, "content": m.content} for m in messages],
                temperature=temperature,
                max_tokens=max_tokens,
            )
        except (openai.NotFoundError, openai.PermissionDeniedError) as exc:
            raise ModelUnavailable(f"model {model} unavailable ({exc.status_code}): {_message(exc)}") from exc
        except openai.BadRequestError as exc:
            if "deprecat" in str(exc).lower() or "does not exist" in str(exc).lower():
                raise ModelUnavailable(f"model {model} unavailable: {_message(exc)}") from exc
            raise ModelError(f"model {model} rejected the request: {_message(exc)}") from exc
        except openai.APITimeoutError as exc:
            raise ModelError(f"model {model} timed out") from exc
        except openai.APIStatusError as exc:
            raise ModelError(f"model {model} failed with HTTP {exc.status_code}: {_message(exc)}") from exc
        except openai.APIError as exc:
            raise ModelError(f"model {model} failed: {exc}") from exc
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content or "") if choice else ""
        usage = response.usage
        return Completion(
            text=text.strip(),
            model=response.model or model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )


def _message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(exc)
