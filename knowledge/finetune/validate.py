"""Validate a chat fine-tuning file before any upload (OpenAI's documented format checks plus
ours: token limits, example counts, citations that point to no source, a cost estimate)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.chunking import count_tokens
from knowledge.citations import verify
from knowledge.pricing import by_model_prefix
from knowledge.prompting import source_numbers

ALLOWED_KEYS = {"role", "content", "name", "weight", "function_call", "tool_calls", "tool_call_id"}
ROLES = {"system", "user", "assistant", "tool", "function"}
# Training context per example (tokens) for fine-tunable models; unknown models get the smallest.
TOKEN_LIMITS = {"gpt-4o-mini": 65_536, "gpt-4o": 65_536, "gpt-4.1": 65_536, "gpt-3.5-turbo": 16_385}
DEFAULT_TOKEN_LIMIT = 16_385
# USD per 1M training tokens (OpenAI's list prices while self-serve fine-tuning lasts).
TRAINING_PRICES = {"gpt-4o-mini": 3.00, "gpt-4.1-nano": 1.50, "gpt-4.1-mini": 5.00, "gpt-4.1": 25.00, "gpt-4o": 25.00}
MIN_EXAMPLES, RECOMMENDED_EXAMPLES = 10, 50


@dataclass
class Report:
    path: Path
    examples: int = 0
    tokens: int = 0
    max_tokens: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    estimated_cost_per_epoch: float | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def _check_example(n: int, raw: str, report: Report, token_limit: int) -> int:
    where = f"line {n}"
    try:
        example = json.loads(raw)
    except ValueError as exc:
        report.errors.append(f"{where}: not valid JSON ({exc.msg})")
        return 0
    if not isinstance(example, dict):
        report.errors.append(f"{where}: not a JSON object")
        return 0
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        report.errors.append(f"{where}: missing a non-empty `messages` list")
        return 0
    tokens = 0
    sources: set[int] = set()
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            report.errors.append(f"{where} message {i}: not an object")
            continue
        extra = set(msg) - ALLOWED_KEYS
        if extra:
            report.errors.append(f"{where} message {i}: unexpected keys {sorted(extra)}")
        role, content = msg.get("role"), msg.get("content")
        if role not in ROLES:
            report.errors.append(f"{where} message {i}: unknown role {role!r}")
        if "weight" in msg and msg["weight"] not in (0, 1):
            report.errors.append(f"{where} message {i}: weight must be 0 or 1")
        if not isinstance(content, str) or not content.strip():
            if not msg.get("tool_calls") and not msg.get("function_call"):
                report.errors.append(f"{where} message {i}: empty content")
            continue
        tokens += count_tokens(content) + 4  # a few tokens of per-message overhead
        if role == "user":
            sources = source_numbers(content)  # the sources of the turn being answered
        if role == "assistant":
            missing = sorted(set(verify(content, valid=sources).invalid))
            if missing:
                report.errors.append(f"{where} message {i}: cites {missing} but the prompt has sources {sorted(sources) or 'none'}")
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        report.errors.append(f"{where}: no assistant message to learn from")
    if tokens > token_limit:
        report.errors.append(f"{where}: {tokens} tokens exceeds the model's {token_limit}-token training limit")
    return tokens


def validate_file(path: Path, *, model: str = "gpt-4o-mini-2024-07-18") -> Report:
    report = Report(path)
    if not path.is_file():
        report.errors.append(f"{path} does not exist")
        return report
    token_limit = by_model_prefix(model, TOKEN_LIMITS) or DEFAULT_TOKEN_LIMIT
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        tokens = _check_example(n, line, report, token_limit)
        report.examples += 1
        report.tokens += tokens
        report.max_tokens = max(report.max_tokens, tokens)
    if report.examples < MIN_EXAMPLES:
        report.errors.append(f"{report.examples} examples: fine-tuning needs at least {MIN_EXAMPLES}")
    elif report.examples < RECOMMENDED_EXAMPLES:
        report.warnings.append(f"{report.examples} examples: {RECOMMENDED_EXAMPLES}+ usually give clearly better results")
    price = by_model_prefix(model, TRAINING_PRICES)
    if price is not None:
        report.estimated_cost_per_epoch = round(report.tokens * price / 1_000_000, 4)
    return report


def format_report(report: Report, *, epochs: int = 3) -> str:
    lines = [f"{report.path}: {report.examples} examples, {report.tokens:,} tokens (largest {report.max_tokens:,})"]
    if report.estimated_cost_per_epoch is not None:
        lines.append(f"estimated training cost: ${report.estimated_cost_per_epoch:.4f} per epoch, "
                     f"${report.estimated_cost_per_epoch * epochs:.4f} for {epochs} epochs")
    lines += [f"ERROR   {e}" for e in report.errors] + [f"WARNING {w}" for w in report.warnings]
    lines.append("OK" if report.ok else f"{len(report.errors)} error(s): fix them before uploading")
    return "\n".join(lines)
