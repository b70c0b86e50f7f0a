"""A deterministic, offline `Embedder` that counts its calls (hashed bag of words)."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence

_WORD = re.compile(r"[a-z0-9]+")


def hashed_vector(text: str, dim: int) -> list[float]:
    vec = [0.0] * dim
    for word in _WORD.findall(text.lower()):
        stem = word[:5]  # crude stemming so "swap"/"swaps"/"swapping" meet
        h = int.from_bytes(hashlib.blake2b(stem.encode(), digest_size=8).digest(), "big")
        vec[h % dim] += 1.0 if (h >> 32) & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vec)) or 1.0
    return [x / norm for x in vec] if any(vec) else [1.0 / math.sqrt(dim)] * dim


class CountingEmbedder:
    def __init__(self, *, dim: int = 64, name: str = "fake:hashed-bow") -> None:
        self.dim = dim
        self.name = name
        self.calls = 0
        self.texts_embedded = 0

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        self.texts_embedded += len(texts)
        return [hashed_vector(t, self.dim) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return hashed_vector(text, self.dim)
