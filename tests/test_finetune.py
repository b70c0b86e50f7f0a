"""Brand-voice fine-tuning end to end, against the loopback fake OpenAI API (files, jobs, chat)."""

import json
from importlib.resources import files
from pathlib import Path

import pytest
from helpers import add_folder_source, sync

from knowledge.answering import AnswerConfig, Answerer
from knowledge.chat import OpenAIChatModel
from knowledge.errors import FineTuningUnavailable, PromotionRefused, SupportBotError
from knowledge.finetune.backends import OpenAITrainer, export_dataset
from knowledge.finetune.brand import check, parse_brand_guide
from knowledge.finetune.dataset import (
    Example,
    dedupe,
    from_answers,
    load_curated,
    prepare_dataset,
    split,
)
from knowledge.finetune.evaluate import evaluate_models, load_examples
from knowledge.finetune.training import follow, start_training
from knowledge.finetune.validate import validate_file
from knowledge.models import Answer, Feedback
from knowledge.prompting import select_context, system_prompt
from knowledge.registry import active_model, add_model, get_model, promote, rollback
from knowledge.retrieval import search

GUIDE = (files("knowledge") / "sample_brand_voice.md").read_text()
REFUSAL = "I don't have that information in our help center."
CURATED = Path(str(files("knowledge") / "sample_finetune_examples.jsonl"))


@pytest.fixture
def kb(sessions, embedder):
    add_folder_source(sessions, "sample", Path(str(files("knowledge") / "sample_help_center")))
    sync(sessions, "sample", embedder)
    return sessions


def retriever(kb, embedder):
    def retrieve(question):
        with kb() as s:
            return select_context(search(s, question, embedder=embedder, k=8), budget_tokens=1500, max_sources=5)
    return retrieve


def client(fake):
    return OpenAIChatModel(api_key="sk-test", base_url=fake.url + "/v1", max_retries=0)


def answerer(kb, embedder, fake):
    cfg = AnswerConfig(refusal_text=REFUSAL, brand_guide=GUIDE, min_similarity=0.0, base_model="gpt-4o-mini")
    return Answerer(kb, embedder=embedder, chat=client(fake), config=cfg, chat_for=lambda m: client(fake))


def good_reply(request):
    return "Open **Schedule** and tap the shift [1].\n\n— Tandem Support"


def test_end_to_end_prepare_train_eval_promote_answer_rollback(kb, embedder, fake_openai, tmp_path):
    # bot answers: one 👍, one 👍 but escalated (excluded), one corrected by an operator
    fake_openai.default_reply = good_reply
    bot = answerer(kb, embedder, fake_openai)
    liked, escalated, corrected = (bot.answer(q) for q in (
        "How do I request a shift swap?", "Can I get a refund?", "How do I reset my password?"))
    with kb.begin() as s:
        s.add_all([Feedback(answer_id=liked.id, user_id="U1", vote=1), Feedback(answer_id=escalated.id, user_id="U1", vote=1)])
        s.get(Answer, escalated.id).escalated = True
        s.get(Answer, corrected.id).corrected_text = "Tap **Forgot password** on the sign-in screen [1].\n\n— Tandem Support"
    with kb() as s:
        from_db, skipped = from_answers(s)
    assert sorted(e.origin for e in from_db) == ["corrected", "thumbs-up"] and not skipped

    data = tmp_path / "ds"
    result = prepare_dataset(load_curated(CURATED) + from_db, data, retrieve=retriever(kb, embedder),
                             refusal=REFUSAL, brand_guide=GUIDE)
    assert result.train + result.validation == 26 and result.validation >= 4
    first = json.loads((data / "train.jsonl").read_text().splitlines()[0])
    assert first["messages"][0]["content"] == system_prompt(refusal=REFUSAL, brand_guide=GUIDE)  # inference prompt
    assert '<source n="1"' in first["messages"][1]["content"] and first["messages"][-1]["role"] == "assistant"
    report = validate_file(data / "train.jsonl")
    assert report.ok and report.warnings and report.estimated_cost_per_epoch > 0

    trainer = OpenAITrainer(api_key="sk-test", base_url=fake_openai.url + "/v1", max_retries=0)
    model_id = start_training(kb, trainer, data, base_model="gpt-4o-mini-2024-07-18", who="test").id
    uploads = fake_openai.calls("/files", method="POST")
    assert len(uploads) == 2  # training and validation files
    states = []
    for _ in range(3):
        states.append(follow(kb, trainer, model_id).status)
    assert states[-1] == "succeeded" and "running" in states
    with kb() as s:
        model = get_model(s, model_id)
    assert model.status == "ready" and model.name.startswith("ft:gpt-4o-mini") and model.dataset_hash == result.dataset_hash

    def per_model(request):
        if request["model"].startswith("ft:"):
            return "Tap **Swap** on the shift [1].\n\n— Tandem Support"
        return "Unfortunately, you swap it in the app [1]."
    fake_openai.default_reply = per_model
    evaluation = evaluate_models(load_examples(data / "validation.jsonl"),
                                 {"candidate": (client(fake_openai), model.name), "base": (client(fake_openai), "gpt-4o-mini")},
                                 rules=parse_brand_guide(GUIDE), refusal_text=REFUSAL)
    cand, base = evaluation.metrics["candidate"], evaluation.metrics["base"]
    assert cand.sign_off_rate == 1.0 and base.sign_off_rate == 0.0 and base.banned_phrase_rate == 1.0
    assert cand.citation_validity == 1.0 and evaluation.samples[0]["candidate"].endswith("— Tandem Support")
    with kb.begin() as s:
        get_model(s, model_id).eval_results = evaluation.as_dict()
        promote(s, model_id, who="U-operator")

    assert bot.answer("How do I swap a shift?").model == model.name  # no restart needed
    assert fake_openai.chat_requests()[-1]["model"] == model.name
    with kb.begin() as s:
        assert rollback(s, who="U-operator") is None
    assert bot.answer("How do I swap a shift?").model == "gpt-4o-mini"


def test_promotion_refused_without_eval_or_on_citation_regression(kb):
    with kb.begin() as s:
        m = add_model(s, name="ft:x", backend="register")
        with pytest.raises(PromotionRefused, match="no evaluation"):
            promote(s, m.id)
        m.eval_results = {"candidate": {"citation_validity": 0.7}, "base": {"citation_validity": 0.95}}
        with pytest.raises(PromotionRefused, match="regresses citation validity"):
            promote(s, m.id)
        m.eval_results = {"candidate": {"citation_validity": 0.97}, "base": {"citation_validity": 0.95}}
        promote(s, m.id)
        assert active_model(s).id == m.id


def test_rollback_returns_to_the_previous_model(kb):
    with kb.begin() as s:
        ok = {"candidate": {"citation_validity": 1.0}}
        a, b = add_model(s, name="a", backend="register"), add_model(s, name="b", backend="register")
        a.eval_results = b.eval_results = ok
        promote(s, a.id)
        promote(s, b.id)
        assert rollback(s).name == "a" and active_model(s).name == "a"


def test_shutdown_refusal_points_to_other_backends(kb, fake_openai, tmp_path):
    data = tmp_path / "ds"
    prepare_dataset([Example(f"question {i} about shifts", f"answer {i} [1]", "curated") for i in range(12)], data,
                    retrieve=lambda q: [], refusal=REFUSAL, brand_guide=GUIDE, validation_fraction=0)
    fake_openai.refuse_new_jobs = True
    trainer = OpenAITrainer(api_key="sk-test", base_url=fake_openai.url + "/v1", max_retries=0)
    with pytest.raises(SupportBotError, match="does not validate"):
        start_training(kb, trainer, data, base_model="gpt-4o-mini")  # cites [1] with no sources


def test_refused_job_gives_a_clear_message(kb, fake_openai, tmp_path, embedder):
    data = tmp_path / "ds"
    prepare_dataset(load_curated(CURATED), data, retrieve=retriever(kb, embedder), refusal=REFUSAL, brand_guide=GUIDE)
    fake_openai.refuse_new_jobs = True
    trainer = OpenAITrainer(api_key="sk-test", base_url=fake_openai.url + "/v1", max_retries=0)
    with pytest.raises(FineTuningUnavailable, match="finetune export"):
        start_training(kb, trainer, data, base_model="gpt-4o-mini")


def test_failed_job_is_recorded(kb, fake_openai, tmp_path, embedder):
    data = tmp_path / "ds"
    prepare_dataset(load_curated(CURATED), data, retrieve=retriever(kb, embedder), refusal=REFUSAL, brand_guide=GUIDE)
    fake_openai.job_outcome = "failed"
    trainer = OpenAITrainer(api_key="sk-test", base_url=fake_openai.url + "/v1", max_retries=0)
    model_id = start_training(kb, trainer, data, base_model="gpt-4o-mini").id
    for _ in range(3):
        state = follow(kb, trainer, model_id)
    assert state.status == "failed"
    with kb() as s:
        assert get_model(s, model_id).status == "failed"


def _line(messages):
    return json.dumps({"messages": messages})


def test_validator_catches_each_error_class(tmp_path):
    ok = [{"role": "system", "content": "rules"}, {"role": "user", "content": '<source n="1">x</source> Question: q'},
          {"role": "assistant", "content": "a [1]"}]
    bad = [
        "not json",
        json.dumps([1, 2]),
        json.dumps({"prompt": "x"}),
        _line([{"role": "user", "content": "q", "extra": 1}, {"role": "assistant", "content": "a"}]),
        _line([{"role": "robot", "content": "q"}, {"role": "assistant", "content": "a"}]),
        _line([{"role": "user", "content": "  "}, {"role": "assistant", "content": "a"}]),
        _line([{"role": "user", "content": "q"}]),
        _line([{"role": "user", "content": "word " * 70_000}, {"role": "assistant", "content": "a"}]),
        _line(ok[:2] + [{"role": "assistant", "content": "see [2]"}]),
        _line(ok[:2] + [{"role": "assistant", "content": "a", "weight": 2}]),
    ]
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(bad + [_line(ok)] * 3))
    errors = validate_file(path).errors
    for fragment in ("not valid JSON", "not a JSON object", "`messages`", "unexpected keys", "unknown role",
                     "empty content", "no assistant message", "training limit", "cites [2]", "weight must be 0 or 1"):
        assert any(fragment in e for e in errors), fragment
    path.write_text("\n".join([_line(ok)] * 5))
    assert any("at least 10" in e for e in validate_file(path).errors)
    path.write_text("\n".join([_line(ok)] * 20))
    report = validate_file(path)
    assert report.ok and any("50+" in w for w in report.warnings)


def test_scrubbing_dedupe_and_split(tmp_path):
    examples = [Example("Call me on +1 415 555 0100 or mail jo@example.com, key sk-abcdefghijklmnop", "Sure [1].", "curated")]
    examples += [Example(f"How do I export payroll to provider {i}?", "Like this.", "curated") for i in range(20)]
    examples += [Example("How do I export payroll to provider 3 ?", "dup", "thumbs-up")]
    data = tmp_path / "ds"
    result = prepare_dataset(examples, data, retrieve=lambda q: [], refusal=REFUSAL, brand_guide=GUIDE)
    text = (data / "train.jsonl").read_text() + (data / "validation.jsonl").read_text()
    assert "jo@example.com" not in text and "555 0100" not in text and "sk-abcdefghijklmnop" not in text
    assert "[email]" in text and "[phone]" in text and "[token]" in text
    assert result.dropped_duplicates == 1
    unique, _ = dedupe(examples)
    train, val = split(unique, validation_fraction=0.2)
    assert not {e.question for e in train} & {e.question for e in val} and len(val) == 4


def test_brand_rules_parsed_from_the_guide():
    rules = parse_brand_guide(GUIDE)
    assert "Unfortunately" in rules.banned and rules.sign_off == "— Tandem Support"
    assert check("Tap Swap [1].\n\n— Tandem Support", rules).ok
    verdict = check("Unfortunately we regret to inform you of this.", rules)
    assert verdict.banned_found and not verdict.has_sign_off


def test_export_writes_chat_jsonl_and_recipe(tmp_path):
    data = tmp_path / "ds"
    prepare_dataset([Example(f"q{i} about shifts", "a", "curated") for i in range(6)], data,
                    retrieve=lambda q: [], refusal=REFUSAL, brand_guide=GUIDE)
    written = export_dataset(data, tmp_path / "out")
    assert {p.name for p in written} == {"train.jsonl", "validation.jsonl", "manifest.json", "RECIPE.md"}
    assert "vllm serve" in (tmp_path / "out" / "RECIPE.md").read_text()
    assert all("messages" in json.loads(line) for line in (tmp_path / "out" / "train.jsonl").read_text().splitlines())
