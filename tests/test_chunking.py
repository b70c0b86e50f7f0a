from knowledge.chunking import SEPARATOR, chunk_document, count_tokens

ARTICLE = """# Swap a shift

Intro paragraph about swapping. It explains who can swap and why managers approve swaps.

## Request a swap

1. Open the shift.
2. Tap **Swap**.
3. Pick a coworker.

## Rules

""" + " ".join(f"Rule number {i} says something specific about swaps and approvals." for i in range(60)) + """

### Code

```
tandem swap --shift 42
# not a heading inside code
```
"""


def test_chunks_are_deterministic_and_ids_stable():
    a = chunk_document("1:doc", "Swap a shift", ARTICLE, max_tokens=80, overlap=16)
    b = chunk_document("1:doc", "Swap a shift", ARTICLE, max_tokens=80, overlap=16)
    assert a == b
    assert len({c.id for c in a}) == len(a)
    assert [c.ord for c in a] == list(range(len(a)))


def test_chunks_carry_breadcrumbs_of_their_section():
    chunks = chunk_document("1:doc", "Swap a shift", ARTICLE, max_tokens=80, overlap=16)
    crumbs = {c.breadcrumb for c in chunks}
    assert f"Swap a shift{SEPARATOR}Request a swap" in crumbs
    assert f"Swap a shift{SEPARATOR}Rules" in crumbs
    assert f"Swap a shift{SEPARATOR}Rules{SEPARATOR}Code" in crumbs
    # the H1 repeating the title is not repeated in the breadcrumb
    assert all(not c.breadcrumb.startswith(f"Swap a shift{SEPARATOR}Swap a shift") for c in chunks)
    assert all(c.embedding_text.startswith(c.breadcrumb + "\n") for c in chunks)


def test_chunks_respect_budget_and_do_not_split_sentences():
    chunks = chunk_document("1:doc", "Swap a shift", ARTICLE, max_tokens=80, overlap=16)
    rules = [c for c in chunks if c.breadcrumb.endswith("Rules")]
    assert len(rules) > 2
    for c in chunks:
        assert c.tokens <= 80
        assert c.tokens == count_tokens(c.content)
    for c in rules:
        for line in c.content.splitlines():
            assert line.startswith("Rule number") and line.endswith(".")


def test_neighbouring_chunks_overlap():
    chunks = [c for c in chunk_document("1:doc", "T", ARTICLE, max_tokens=80, overlap=16) if c.breadcrumb.endswith("Rules")]
    for first, second in zip(chunks, chunks[1:]):
        assert first.content.splitlines()[-1] == second.content.splitlines()[0]


def test_code_fence_is_kept_whole_and_hash_inside_is_not_a_heading():
    chunks = chunk_document("1:doc", "Swap a shift", ARTICLE, max_tokens=80, overlap=16)
    code = [c for c in chunks if "tandem swap" in c.content]
    assert len(code) == 1 and "# not a heading inside code" in code[0].content


def test_an_overlong_sentence_is_cut_at_words():
    body = "word " * 500
    chunks = chunk_document("1:d", "Long", body, max_tokens=100, overlap=10)
    assert len(chunks) >= 5
    assert all(c.tokens <= 100 for c in chunks)


def test_context_prefix_and_tiny_sections_merge():
    body = "## A\n\nshort.\n\n## B\n\nAlso short but a little longer than the first one."
    chunks = chunk_document("1:d", "Title", body, context="Billing › Plans", max_tokens=200, overlap=20)
    assert len(chunks) == 1
    assert chunks[0].breadcrumb == "Billing › Plans › Title › B"
    assert "short." in chunks[0].content


def test_different_documents_get_different_ids():
    a = chunk_document("1:a", "T", "Same text.", max_tokens=50, overlap=5)
    b = chunk_document("1:b", "T", "Same text.", max_tokens=50, overlap=5)
    assert a[0].id != b[0].id
