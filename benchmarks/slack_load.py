"""Slack load benchmark (not a test): N concurrent signed @mentions against `supportbot run` in HTTP mode.

Everything runs on loopback: an embedded PostgreSQL, FakeSlack for the Web API and FakeOpenAI as
a model that takes `--model-seconds` (2 s) per answer (its embeddings answer at once). The bot
runs as its own process (`python -m bot run`), as in production. Reports what Slack sees — how
fast each event is acknowledged (Slack retries after 3 s) — and checks that every mention got
exactly one threaded answer, also when each event is delivered more than once (`--duplicates`).

    python benchmarks/slack_load.py [--mentions 50] [--model-seconds 2] [--workers 8] [--duplicates 0]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fakes.openai_server import FakeOpenAI  # noqa: E402
from fakes.slack_server import FakeSlack  # noqa: E402
from slack_client import BOT_ID, BOT_USER, SECRET, TEAM, SlackSender  # noqa: E402

from knowledge.db import start_embedded_postgres  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def supportbot(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"supportbot {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def wait_healthy(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("the bot did not become healthy")


def fire(url: str, questions: list[str], mentions: int, duplicates: int) -> tuple[list[float], Counter[int]]:
    """Every mention from its own connection, all released at once; returns ack latencies (ms)."""
    start = threading.Barrier(mentions)
    acks: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def mention(i: int) -> None:
        sender = SlackSender(url)
        start.wait()
        for retry in range(duplicates + 1):
            began = time.perf_counter()
            response = sender.mention(questions[i % len(questions)], ts=thread_ts(i), event_id=f"EvLOAD{i:05d}",
                                      retry=retry or None)
            with lock:
                acks.append((time.perf_counter() - began) * 1000)
                statuses[response.status_code] += 1
        sender.http.close()

    with ThreadPoolExecutor(max_workers=mentions) as pool:
        list(pool.map(mention, range(mentions)))
    return acks, statuses


def fire_from_own_process(url: str, questions: list[str], mentions: int, duplicates: int) -> tuple[list[float], Counter[int]]:
    """Run `fire` in a separate process, as Slack's servers are: the fakes here don't steal its CPU."""
    done = subprocess.run([sys.executable, __file__, "--fire", url, "--mentions", str(mentions),
                           "--duplicates", str(duplicates)], input="\n".join(questions), capture_output=True,
                          text=True, check=True)
    result = json.loads(done.stdout)
    return result["acks"], Counter({int(k): v for k, v in result["statuses"].items()})


def thread_ts(i: int) -> str:
    return f"{1800000000 + i}.000100"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mentions", type=int, default=50)
    ap.add_argument("--model-seconds", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=8, help="SLACK_WORKERS: answers generated at once")
    ap.add_argument("--duplicates", type=int, default=0, help="extra deliveries of each event (Slack retries)")
    ap.add_argument("--fire", metavar="URL", help=argparse.SUPPRESS)  # internal: the client process
    args = ap.parse_args()
    if args.fire:
        acks, statuses = fire(args.fire, sys.stdin.read().splitlines(), args.mentions, args.duplicates)
        print(json.dumps({"acks": acks, "statuses": statuses}))
        return

    data_dir = Path(tempfile.mkdtemp(prefix="sb-slack-load-"))
    proc = None
    try:
        with FakeSlack(team_id=TEAM, bot_user_id=BOT_USER, bot_id=BOT_ID) as slack, FakeOpenAI() as model:
            model.default_reply = "Open the schedule and pick the shift [1]."
            model.set_delay("/chat/completions", args.model_seconds)
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_"))} | {
                "DATABASE_URL": start_embedded_postgres(data_dir), "OPENAI_API_KEY": "sk-bench",
                "OPENAI_BASE_URL": model.url + "/v1", "OPENAI_MAX_RETRIES": "0", "OPENAI_TIMEOUT": "60",
                "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.url + "/api/",
                "SLACK_WORKERS": str(args.workers), "ANSWER_MIN_SIMILARITY": "0", "SCHEDULER_ENABLED": "false",
                "REWRITE_FOLLOWUPS_WITH_MODEL": "false", "EMBEDDING_DIMENSIONS": "64",
            }
            supportbot(env, "sources", "add", "sample", "--kind", "folder", "--path",
                       str(files("knowledge") / "sample_help_center"))
            supportbot(env, "sync")
            questions = [q for q in (files("knowledge") / "sample_questions.txt").read_text().splitlines() if q.strip()]
            log = (data_dir / "bot.log").open("w+")  # a file, not a pipe: a full pipe would block the bot
            proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port)],
                                    env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, proc)

            began = time.perf_counter()
            acks, statuses = fire_from_own_process(url, questions, args.mentions, args.duplicates)
            acked = time.perf_counter() - began
            slack.wait_for_calls("chat.postMessage", count=args.mentions, timeout=args.mentions * args.model_seconds + 60)
            answered = time.perf_counter() - began
            time.sleep(1)  # let any (wrong) extra answer arrive before counting
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            log.seek(0)
            output = log.read()

            per_thread = Counter(m["thread_ts"] for m in slack.posted_messages())
            exactly_one = sum(1 for i in range(args.mentions) if per_thread[thread_ts(i)] == 1)
            print(f"\nSlack load: {args.mentions} concurrent signed mentions × {args.duplicates + 1} deliveries, "
                  f"model {args.model_seconds:g} s per answer, SLACK_WORKERS={args.workers}, "
                  f"`supportbot run` (HTTP) on loopback, {os.cpu_count()} CPUs")
            print(f"ack latency (ms, {len(acks)} requests): p50 {pct(acks, .5):.1f}  p95 {pct(acks, .95):.1f}  "
                  f"max {max(acks):.1f}  mean {statistics.mean(acks):.1f}   HTTP statuses {dict(statuses)}")
            print(f"all acked {acked:.2f} s after the start (client process start-up included); "
                  f"all answered after {answered:.2f} s")
            print(f"mentions with exactly one answer: {exactly_one}/{args.mentions}; chat.postMessage calls: "
                  f"{sum(per_thread.values())}; model calls: {len(model.chat_requests())}; "
                  f"bot exit code after SIGTERM: {proc.returncode}")
            if exactly_one != args.mentions or max(acks) >= 3000 or proc.returncode != 0:
                raise SystemExit("FAILED: an ack took 3 s or more, a mention did not get exactly one answer, "
                                 "or the bot did not stop cleanly\n" + output[-3000:])
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
