"""Retrieval quality on the golden sets: hybrid vs vector vs lexical.

Method
------
For every golden set under ``--sets-dir`` (default ``../shared/eval`` relative to the repository
root; a set is a folder with ``docs/`` and ``questions.jsonl``) this runs the real CLI::

    python -m bot eval --set <dir> --mode all --json

in a subprocess, with ``EMBEDDER=local`` (the bundled all-MiniLM-L6-v2, on CPU) and without
``OPENAI_API_KEY``. The database is whatever the app uses: ``DATABASE_URL`` if set, else the
embedded server under ``DATA_DIR`` (``--data-dir`` sets it). ``eval`` indexes the set's docs into
the sibling ``<db>_eval`` database; the first run embeds every document (minutes on CPU), later
runs are incremental and cost only the searches.

Metrics are those of ``knowledge.evaluation``: over the answerable questions, ranking distinct
documents, recall@k = share of questions with a gold document in the top k, MRR@10 = mean of
1/rank of the first gold document (0 when not in the top 10).

Reading the results
-------------------
One table row per set × mode, with absolute numbers. The ``hyb/vec`` and ``hyb/lex`` columns of
the hybrid row are ratios (hybrid ÷ vector, hybrid ÷ lexical) of R@5 and MRR@10 measured in the
same run. The quality bar, per set:

    hybrid R@5  >= max(vector R@5, lexical R@5)   and
    hybrid MRR@10 >  vector MRR@10 and > lexical MRR@10

The script exits 1 when the bar fails for any set (2 when an eval could not run), so it can be
used as a check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MODES = ("hybrid", "vector", "lexical")
METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10")


def find_sets(sets_dir: Path, only: list[str]) -> list[Path]:
    sets = sorted(p for p in sets_dir.iterdir() if (p / "docs").is_dir() and (p / "questions.jsonl").is_file())
    if only:
        missing = set(only) - {p.name for p in sets}
        if missing:
            raise SystemExit(f"no golden set named {', '.join(sorted(missing))} in {sets_dir}")
        sets = [p for p in sets if p.name in only]
    return sets


def eval_env(data_dir: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OPENAI_API_KEY", None)
    env["EMBEDDER"] = "local"
    env["HF_HUB_OFFLINE"] = "1"
    if data_dir:
        env["DATA_DIR"] = data_dir
    return env


def parse_json_output(stdout: str) -> dict:
    """The JSON document printed by `eval --json` (tolerates stray lines before it)."""
    start = stdout.find("{")
    if start < 0:
        raise ValueError("no JSON object in the output")
    return json.JSONDecoder().raw_decode(stdout[start:])[0]


def run_eval(set_dir: Path, *, k: int, env: dict[str, str], timeout: float) -> tuple[dict, float]:
    cmd = [sys.executable, "-m", "bot", "eval", "--set", str(set_dir), "--mode", "all", "--k", str(k), "--json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"`{' '.join(cmd[1:])}` exited {proc.returncode}:\n{tail}")
    return parse_json_output(proc.stdout), seconds


def quality_bar(results: dict) -> tuple[bool, list[str]]:
    """(passes, reasons it fails)."""
    h, v, lx = (results[m] for m in MODES)
    reasons = []
    best_r5 = max(v["recall@5"], lx["recall@5"])
    if not h["recall@5"] >= best_r5:
        reasons.append(f"hybrid R@5 {h['recall@5']:.3f} < best single-mode R@5 {best_r5:.3f}")
    for name, other in (("vector", v), ("lexical", lx)):
        if not h["mrr@10"] > other["mrr@10"]:
            reasons.append(f"hybrid MRR@10 {h['mrr@10']:.3f} <= {name} MRR@10 {other['mrr@10']:.3f}")
    return not reasons, reasons


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def print_table(report: dict) -> None:
    head = ("set", "mode", "questions", "R@1", "R@5", "R@10", "MRR@10", "R@5 hyb/vec", "R@5 hyb/lex", "MRR hyb/vec", "MRR hyb/lex")
    rows = []
    for name, entry in report["sets"].items():
        if "error" in entry:
            rows.append((name, "ERROR", "", "", "", "", "", "", "", "", ""))
            continue
        res = entry["results"]
        for mode in MODES:
            r = res[mode]
            extra = ("", "", "", "")
            if mode == "hybrid":
                extra = (
                    ratio(r["recall@5"], res["vector"]["recall@5"]),
                    ratio(r["recall@5"], res["lexical"]["recall@5"]),
                    ratio(r["mrr@10"], res["vector"]["mrr@10"]),
                    ratio(r["mrr@10"], res["lexical"]["mrr@10"]),
                )
            rows.append((name if mode == "hybrid" else "", mode, str(r["questions"]),
                         *(f"{r[m]:.3f}" for m in METRICS), *extra))
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]

    def line(cells) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    print(line(head))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))
    print()
    print("Quality bar: hybrid R@5 >= max(vector, lexical) R@5 and hybrid MRR@10 > vector and lexical MRR@10")
    for name, entry in report["sets"].items():
        if "error" in entry:
            print(f"  {name:<14} ERROR  {entry['error'].splitlines()[0]}")
            continue
        verdict = "PASS" if entry["bar_passes"] else "FAIL"
        detail = "; ".join(entry["bar_failures"]) if entry["bar_failures"] else ""
        print(f"  {name:<14} {verdict}  ({entry['seconds']:.1f} s){'  ' + detail if detail else ''}")
    print(f"\nOverall: {'PASS' if report['passes'] else 'FAIL'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Retrieval quality (recall@1/5/10, MRR@10) of hybrid, vector and lexical search on every "
        "golden set, via `supportbot eval --mode all --json` with the local embedder. Exits 1 when hybrid "
        "does not beat both single modes (R@5 >=, MRR@10 >) on some set.",
    )
    parser.add_argument("--sets-dir", type=Path, default=REPO_ROOT.parent / "shared" / "eval",
                        help="folder of golden sets (default: ../shared/eval relative to the repository root)")
    parser.add_argument("--set", dest="only", action="append", default=[], metavar="NAME",
                        help="only this set (repeatable; default: every set in --sets-dir)")
    parser.add_argument("--k", type=int, default=10, help="documents ranked per question (default 10)")
    parser.add_argument("--data-dir", default=None,
                        help="DATA_DIR for the embedded database (default: the app's, i.e. the environment's)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per set (default 3600)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)

    sets_dir = args.sets_dir.expanduser().resolve()
    if not sets_dir.is_dir():
        parser.error(f"{sets_dir} is not a directory")
    sets = find_sets(sets_dir, args.only)
    if not sets:
        parser.error(f"no golden sets (docs/ + questions.jsonl) in {sets_dir}")

    env = eval_env(args.data_dir)
    report: dict = {"sets_dir": str(sets_dir), "embedder": "local", "k": args.k, "sets": {}}
    errors = False
    for set_dir in sets:
        if not args.json:
            print(f"evaluating {set_dir.name} ...", file=sys.stderr, flush=True)
        try:
            results, seconds = run_eval(set_dir, k=args.k, env=env, timeout=args.timeout)
            missing = [m for m in MODES if m not in results]
            if missing:
                raise RuntimeError(f"eval output lacks modes {missing}: {results}")
        except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
            errors = True
            report["sets"][set_dir.name] = {"error": str(exc)}
            print(f"error: {set_dir.name}: {exc}", file=sys.stderr)
            continue
        passes, failures = quality_bar(results)
        report["sets"][set_dir.name] = {
            "results": results, "seconds": round(seconds, 1), "bar_passes": passes, "bar_failures": failures,
        }
    report["passes"] = not errors and all(e.get("bar_passes") for e in report["sets"].values())

    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    if errors:
        return 2
    return 0 if report["passes"] else 1


if __name__ == "__main__":
    sys.exit(main())
