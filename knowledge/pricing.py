"""Estimated cost of model calls (USD per 1M tokens: input, output). Self-hosted models cost 0
unless the operator sets a price (MODEL_PRICES)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    # fine-tuned inference is billed at higher rates than the base model
    "ft:gpt-4o-mini": (0.30, 1.20),
    "ft:gpt-4.1-mini": (0.80, 3.20),
    "ft:gpt-4.1": (3.00, 12.00),
}


def by_model_prefix(model: str, table: Mapping[str, T]) -> T | None:
    """The entry whose key is the longest prefix of `model`
    ("ft:gpt-4o-mini-2024-07-18:acme::x" → "ft:gpt-4o-mini"), or None."""
    best = max((key for key in table if model.startswith(key)), key=len, default=None)
    return table[best] if best else None


def price_for(model: str, prices: Mapping[str, tuple[float, float]]) -> tuple[float, float]:
    return by_model_prefix(model, prices) or (0.0, 0.0)


def estimate_cost(model: str, prompt_tokens: int, completion_tokens: int, *, prices: Mapping[str, tuple[float, float]] = DEFAULT_PRICES) -> float:
    input_price, output_price = price_for(model, prices)
    return round((prompt_tokens * input_price + completion_tokens * output_price) / 1_000_000, 8)
