"""Candidate vs active vs base on the validation split: citation validity, refusal correctness,
answer length and the brand guide's mechanical rules, plus side-by-side samples to read."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from knowledge.chat import ChatModel, Message
from knowledge.citations import is_refusal, verify
from knowledge.errors import ModelError
from knowledge.finetune.brand import BrandRules, check
from knowledge.prompting import source_numbers


@dataclass
class EvalExample:
    prompt: list[Message]
    ideal: str

    @property
    def question(self) -> str:
        return self.prompt[-1].content.rsplit("Question:", 1)[-1].strip()

    @property
    def sources(self) -> set[int]:
        return source_numbers(self.prompt[-1].content)


def load_examples(path: Path, *, limit: int | None = None) -> list[EvalExample]:
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        messages = json.loads(line)["messages"]
        *prompt, ideal = messages
        examples.append(EvalExample([Message(m["role"], m["content"]) for m in prompt], ideal["content"]))
    return examples[:limit] if limit else examples


@dataclass
class Metrics:
    answers: int = 0
    errors: int = 0
    citation_validity: float = 0.0  # valid markers / all markers
    cited_rate: float = 0.0  # non-refusal answers with at least one valid citation
    refusal_correct: float = 0.0  # refused exactly when the ideal answer refuses
    avg_words: float = 0.0
    banned_phrase_rate: float = 0.0
    sign_off_rate: float = 0.0
    avg_grade: float = 0.0
    readable_rate: float = 0.0


@dataclass
class EvalResult:
    metrics: dict[str, Metrics]
    samples: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {label: asdict(m) for label, m in self.metrics.items()} | {"samples": self.samples}


def _score(outputs: Sequence[tuple[EvalExample, str | None]], rules: BrandRules, refusal_text: str) -> Metrics:
    m = Metrics()
    markers = valid = cited = non_refusals = refusal_ok = 0
    words = grades = banned = signed = readable = 0.0
    for example, text in outputs:
        if text is None:
            m.errors += 1
            continue
        m.answers += 1
        refused = is_refusal(text, refusal_text=refusal_text)
        refusal_ok += refused == is_refusal(example.ideal, refusal_text=refusal_text)
        checked = verify(text, valid=example.sources)
        markers += checked.markers_total
        valid += checked.markers_total - len(checked.invalid)
        if not refused:
            non_refusals += 1
            cited += bool(checked.cited)
        brand = check(text, rules)
        words += len(text.split())
        grades += brand.grade
        banned += bool(brand.banned_found)
        signed += brand.has_sign_off
        readable += brand.readable
    n = m.answers or 1
    m.citation_validity = round(valid / markers, 4) if markers else 1.0
    m.cited_rate = round(cited / non_refusals, 4) if non_refusals else 0.0
    m.refusal_correct = round(refusal_ok / n, 4)
    m.avg_words, m.avg_grade = round(words / n, 1), round(grades / n, 2)
    m.banned_phrase_rate, m.sign_off_rate, m.readable_rate = round(banned / n, 4), round(signed / n, 4), round(readable / n, 4)
    return m


def evaluate_models(
    examples: Sequence[EvalExample],
    variants: Mapping[str, tuple[ChatModel, str]],
    *,
    rules: BrandRules,
    refusal_text: str,
    samples: int = 3,
    max_tokens: int = 600,
) -> EvalResult:
    """`variants`: label (candidate/active/base) → (client, model name)."""
    outputs: dict[str, list[tuple[EvalExample, str | None]]] = {label: [] for label in variants}
    for example in examples:
        for label, (client, model) in variants.items():
            try:
                text = client.complete(example.prompt, model=model, temperature=0, max_tokens=max_tokens).text
            except ModelError:
                text = None
            outputs[label].append((example, text))
    result = EvalResult({label: _score(outs, rules, refusal_text) for label, outs in outputs.items()})
    for i, example in enumerate(examples[:samples]):
        result.samples.append({"question": example.question, "ideal": example.ideal}
                              | {label: outputs[label][i][1] or "(error)" for label in variants})
    return result
