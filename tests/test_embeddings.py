import pytest
from fakes.openai_server import Fault
from helpers import add_folder_source, sync, write_doc

from knowledge.embeddings import MAX_INPUTS_PER_REQUEST, OpenAIEmbedder, batches
from knowledge.errors import ModelError


def make(fake, **kw) -> OpenAIEmbedder:
    return OpenAIEmbedder(api_key="sk-test", base_url=fake.url + "/v1", **({"max_retries": 0} | kw))


def test_dimensions_and_model_are_sent(fake_openai):
    emb = make(fake_openai, model="text-embedding-3-small", dimensions=32)
    vectors = emb.embed_documents(["how do I swap a shift", "plans and pricing"])
    assert emb.dim == 32 and emb.name == "openai:text-embedding-3-small"
    assert [len(v) for v in vectors] == [32, 32]
    body = fake_openai.calls("/embeddings")[-1].json
    assert body["model"] == "text-embedding-3-small" and body["dimensions"] == 32
    assert body["input"] == ["how do I swap a shift", "plans and pricing"]


def test_requests_stay_within_the_input_limit(fake_openai):
    emb = make(fake_openai, dimensions=16)
    emb.embed_documents([f"text {i}" for i in range(MAX_INPUTS_PER_REQUEST + 5)])
    sizes = [len(r.json["input"]) for r in fake_openai.calls("/embeddings")]
    assert sizes == [MAX_INPUTS_PER_REQUEST, 5]


def test_requests_stay_within_the_token_limit(fake_openai):
    emb = make(fake_openai, dimensions=16)
    long_text = "word " * 7_000
    emb.embed_documents([long_text] * 40)  # 280k tokens: one request would be too close to 300k
    requests = fake_openai.calls("/embeddings")
    assert len(requests) >= 2
    assert all(sum(len(t.split()) for t in r.json["input"]) <= 300_000 * 0.6 for r in requests)


def test_batches_split_on_both_limits():
    assert [len(b) for b in batches(["a b c"] * 5, max_inputs=2, max_tokens=100)] == [2, 2, 1]
    assert [len(b) for b in batches(["a b c"] * 5, max_inputs=100, max_tokens=7)] == [2, 2, 1]


def test_transient_errors_are_retried_by_the_sdk(fake_openai):
    emb = make(fake_openai, dimensions=16, max_retries=2)
    fake_openai.fail_next("/embeddings", Fault(500, retry_after_ms=1), Fault(429, retry_after_ms=1))
    assert len(emb.embed_documents(["x"])[0]) == 16


def test_persistent_errors_become_a_model_error(fake_openai):
    emb = make(fake_openai, dimensions=16)
    fake_openai.fail_next("/embeddings", Fault(500))
    with pytest.raises(ModelError, match="Embedding request"):
        emb.embed_documents(["x"])


def test_unchanged_resync_sends_no_embedding_request(fake_openai, sessions, tmp_path):
    for i in range(3):
        write_doc(tmp_path, f"d{i}.md", f"# Doc {i}\n\nSome text about topic {i}.", title=f"Doc {i}")
    add_folder_source(sessions, "hc", tmp_path)
    emb = make(fake_openai, dimensions=16)
    assert sync(sessions, "hc", emb).added == 3
    before = len(fake_openai.calls("/embeddings"))
    assert sync(sessions, "hc", emb).unchanged == 3
    assert len(fake_openai.calls("/embeddings")) == before


def test_failed_embedding_fails_the_run_without_losing_documents(fake_openai, sessions, tmp_path):
    write_doc(tmp_path, "a.md", "# A\n\nFirst version.", title="A")
    add_folder_source(sessions, "hc", tmp_path)
    emb = make(fake_openai, dimensions=16)
    sync(sessions, "hc", emb)
    write_doc(tmp_path, "a.md", "# A\n\nSecond version.", title="A")
    fake_openai.fail_next("/embeddings", Fault(500))
    report = sync(sessions, "hc", emb)
    assert report.status == "failed" and "Embedding request" in report.errors[-1]["reason"]
    from knowledge.retrieval import search
    with sessions() as s:
        hits = search(s, "version", embedder=emb, mode="lexical")
    assert [h.text for h in hits] == ["First version."]
