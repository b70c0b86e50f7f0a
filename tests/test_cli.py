import json
import os
import subprocess
import sys

import pytest
from helpers import write_doc



@pytest.fixture
def folder(tmp_path):
    hc = tmp_path / "hc"
    write_doc(hc, "swap.md", "# Swap\n\nAsk a coworker to swap a shift.", id="swap", title="Swap a shift")
    write_doc(hc, "plans.md", "# Plans\n\nStarter costs four dollars.", id="plans", title="Plans")
    return hc


def test_sources_sync_and_search(cli, folder):
    cli("sources", "add", "hc", "--kind", "folder", "--path", str(folder))
    listed = json.loads(cli("sources", "list", "--json").stdout)
    assert listed[0]["name"] == "hc" and listed[0]["kind"] == "folder"

    records = json.loads(cli("sync", "--json").stdout)
    assert records[0]["source"] == "hc"
    assert {k: records[0][k] for k in ("added", "updated", "unchanged", "deleted", "failed")} == {
        "added": 2, "updated": 0, "unchanged": 0, "deleted": 0, "failed": 0}
    again = json.loads(cli("sync", "hc", "--json").stdout)
    assert again[0]["unchanged"] == 2

    hits = json.loads(cli("search", "swap a shift", "--json", "--k", "1").stdout)
    assert hits[0]["document_id"] == "swap" and hits[0]["title"] == "Swap a shift"
    assert "Swap a shift" in cli("search", "swap a shift", "--mode", "lexical").stdout

    cli("sources", "remove", "hc", "--yes")
    assert json.loads(cli("sources", "list", "--json").stdout) == []


def test_bad_source_input_is_a_clear_error(cli, folder):
    result = cli("sources", "add", "x", "--kind", "ftp", ok=False)
    assert result.exit_code != 0 and "Unknown source kind 'ftp'" in str(result.exception)
    result = cli("sources", "add", "x", "--kind", "folder", ok=False)
    assert "needs: --path" in str(result.exception)
    cli("sources", "add", "x", "--kind", "folder", "--path", str(folder))
    assert "exists already" in str(cli("sources", "add", "x", "--kind", "folder", "--path", str(folder), ok=False).exception)
    assert "No source named" in str(cli("sync", "nope", ok=False).exception)


def test_eval_reports_metrics_per_mode(cli, tmp_path, folder):
    golden = tmp_path / "golden"
    (golden / "docs").mkdir(parents=True)
    for p in folder.iterdir():
        (golden / "docs" / p.name).write_text(p.read_text())
    questions = [
        {"id": "q1", "question": "How do I swap a shift?", "history": [], "gold_doc_ids": ["swap"], "answerable": True},
        {"id": "q2", "question": "And what does it cost?", "gold_doc_ids": ["plans"], "answerable": True,
         "history": [{"role": "user", "text": "Tell me about the starter plan"}, {"role": "assistant", "text": "Sure."}]},
        {"id": "q3", "question": "Weather tomorrow?", "history": [], "gold_doc_ids": [], "answerable": False},
    ]
    (golden / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in questions))
    out = json.loads(cli("eval", "--set", str(golden), "--json").stdout)
    assert set(out) == {"hybrid", "vector", "lexical"}
    for metrics in out.values():
        assert set(metrics) == {"recall@1", "recall@5", "recall@10", "mrr@10", "questions"}
        assert metrics["questions"] == 2
    assert out["hybrid"]["recall@5"] == 1.0
    # the golden set went to the sibling eval database, not into the knowledge base
    assert json.loads(cli("sources", "list", "--json").stdout) == []
    assert "hybrid" in json.loads(cli("eval", "--set", str(golden), "--mode", "hybrid", "--json").stdout)


def test_invalid_settings_are_reported_readably(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "DATABASE"))}
    env |= {"CHUNK_TOKENS": "100", "CHUNK_OVERLAP": "300", "DATABASE_URL": "mysql://x"}
    proc = subprocess.run([sys.executable, "-m", "bot", "sources", "list"], env=env, cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Invalid configuration" in proc.stderr and "DATABASE_URL" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ask_prints_answer_with_sources(cli, folder, fake_openai, tmp_path):
    cli("sources", "add", "hc", "--kind", "folder", "--path", str(folder))
    cli("sync")
    fake_openai.enqueue("Ask a coworker [1].")
    out = json.loads(cli("ask", "How do I swap a shift?", "--json").stdout)
    assert out["status"] == "answered" and out["citations"][0]["title"] == "Swap a shift"
    assert out["text"] == "Ask a coworker [1]." and out["model"] == "gpt-4o-mini"
    history = tmp_path / "h.json"
    history.write_text(json.dumps([{"role": "user", "text": "Tell me about plans"}]))
    fake_openai.enqueue("starter plan price", "Four dollars [1].")
    text = cli("ask", "how much?", "--history-file", str(history)).stdout
    assert "Four dollars [1]." in text and "Sources" in text and "[1] Plans" in text
    history.write_text("not json")
    assert cli("ask", "how much?", "--history-file", str(history), ok=False).exit_code == 1


def test_eval_answers_reports_the_failure_split(cli, tmp_path, folder, fake_openai):
    golden = tmp_path / "golden"
    (golden / "docs").mkdir(parents=True)
    for p in folder.iterdir():
        (golden / "docs" / p.name).write_text(p.read_text())
    questions = [
        {"id": "ok", "question": "How do I swap a shift?", "gold_doc_ids": ["swap"], "answerable": True},
        {"id": "beh", "question": "What does Starter cost?", "gold_doc_ids": ["plans"], "answerable": True},
        {"id": "unans", "question": "Weather tomorrow in Paris?", "gold_doc_ids": [], "answerable": False},
    ]
    (golden / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in questions))

    def reply(request):
        user = request["messages"][-1]["content"]
        if "swap" in user.split("Question:")[-1]:
            return "Ask a coworker [1]."
        if "Starter" in user.split("Question:")[-1]:
            return "I don't have that information in our help center."
        return "Sunny [1]."
    fake_openai.default_reply = reply
    out = json.loads(cli("eval", "--set", str(golden), "--mode", "hybrid", "--answers", "--json").stdout)["answers"]
    verdicts = {q["id"]: q["verdict"] for q in out["per_question"]}
    assert verdicts["ok"] == "ok" and verdicts["beh"] == "behaviour"
    assert verdicts["unans"] in {"ok", "over-answer"}
    assert out["answered_rate"] == 0.5 and out["citation_validity"] == 1.0
    assert out["failures"]["behaviour"] == 1
