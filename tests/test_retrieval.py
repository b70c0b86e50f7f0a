import pytest
from helpers import add_folder_source, sync, write_doc

from knowledge.errors import EmbeddingMismatchError
from knowledge.retrieval import Filters, search
from fakes.embedder import CountingEmbedder


@pytest.fixture
def indexed(sessions, embedder, tmp_path):
    en, de = tmp_path / "en", tmp_path / "de"
    for i in range(12):
        write_doc(en, f"a{i}.md", f"# Article {i}\n\nPayroll export number {i} explains timesheets and overtime.",
                  id=f"a{i}", title=f"Payroll article {i}", locale="en",
                  labels=["payroll"] if i % 2 else ["billing"])
    write_doc(en, "long.md", "# Geofence\n\n" + "\n\n".join(
        f"## Part {p}\n\n" + " ".join(f"Geofence radius rule {p}.{s} applies to clock in." for s in range(12))
        for p in range(6)), id="long", title="Geofencing rules", locale="en")
    write_doc(de, "d.md", "# Schicht tauschen\n\nSo tauschen Sie eine Schicht (payroll).", id="de1",
              title="Schicht tauschen", locale="de")
    add_folder_source(sessions, "en", en)
    add_folder_source(sessions, "de", de)
    sync(sessions, "en", embedder, chunk_tokens=60, chunk_overlap=10)
    sync(sessions, "de", embedder, chunk_tokens=60, chunk_overlap=10)
    return sessions


@pytest.mark.parametrize("mode", ["hybrid", "vector", "lexical"])
def test_every_mode_finds_the_matching_document(indexed, embedder, mode):
    with indexed() as s:
        hits = search(s, "geofence radius clock in", embedder=embedder, k=3, mode=mode)
    assert hits[0].external_id == "long"
    assert hits[0].title == "Geofencing rules" and hits[0].breadcrumb.startswith("Geofencing rules › Geofence › Part")
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_hybrid_fuses_both_rankings(indexed, embedder):
    with indexed() as s:
        hybrid = search(s, "payroll timesheets", embedder=embedder, k=5, mode="hybrid")
    # every hybrid hit has a vector similarity, and lexical matches carry their rank score
    assert all(h.similarity is not None for h in hybrid)
    assert any(h.lexical for h in hybrid)


def test_at_most_n_chunks_per_document(indexed, embedder):
    with indexed() as s:
        hits = search(s, "geofence radius rule", embedder=embedder, k=8, max_per_doc=2)
        one = search(s, "geofence radius rule", embedder=embedder, k=8, max_per_doc=1)
    assert sum(h.external_id == "long" for h in hits) == 2
    assert sum(h.external_id == "long" for h in one) == 1


@pytest.mark.parametrize("mode", ["hybrid", "vector", "lexical"])
def test_filters_still_return_k_results(indexed, embedder, mode):
    with indexed() as s:
        only_payroll = search(s, "payroll export", embedder=embedder, k=5, mode=mode, max_per_doc=1,
                              filters=Filters(labels=["payroll"]))
        only_de = search(s, "payroll", embedder=embedder, k=5, mode=mode, filters=Filters(locales=["de"]))
        only_source = search(s, "payroll", embedder=embedder, k=5, mode=mode, filters=Filters(sources=["de"]))
    assert len(only_payroll) == 5
    assert {h.external_id for h in only_payroll} <= {f"a{i}" for i in range(1, 12, 2)}
    assert [h.external_id for h in only_de] == ["de1"] == [h.external_id for h in only_source]


def test_vector_search_uses_the_hnsw_index(indexed, embedder):
    from sqlalchemy import text

    from knowledge.retrieval import _semantic_cte
    with indexed() as s:
        names = s.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'chunks'")).scalars().all()
        assert f"ix_chunks_embedding_hnsw_{embedder.dim}" in names
        s.execute(text("SET enable_seqscan = off"))
        qvec = "[" + ",".join(str(x) for x in embedder.embed_query("payroll")) + "]"
        plan = s.execute(text("EXPLAIN WITH " + _semantic_cte(embedder.dim, "true") + " SELECT * FROM semantic"),
                         {"qvec": qvec, "pool": 5}).scalars().all()
    assert any("ix_chunks_embedding_hnsw" in line for line in plan)


def test_empty_query_returns_nothing(indexed, embedder):
    with indexed() as s:
        assert search(s, "   ", embedder=embedder) == []


def test_embedder_mismatch_is_a_clear_error(indexed):
    other = CountingEmbedder(dim=32, name="fake:other")
    with indexed() as s, pytest.raises(EmbeddingMismatchError, match="reindex --reembed"):
        search(s, "payroll", embedder=other)
    with pytest.raises(EmbeddingMismatchError):
        sync(indexed, "en", other)


def test_reembed_switches_the_vector_space(indexed, embedder):
    from knowledge.reembed import reembed_all

    other = CountingEmbedder(dim=32, name="fake:other")
    n = reembed_all(indexed, embedder=other, chunk_tokens=60, chunk_overlap=10)
    assert n == 14
    with indexed() as s:
        hits = search(s, "geofence radius", embedder=other, k=2)
    assert hits[0].external_id == "long"
    # and the next sync sees nothing to do: hashes were rewritten for the new embedder
    report = sync(indexed, "en", other, chunk_tokens=60, chunk_overlap=10)
    assert report.unchanged == 13 and report.updated == 0
