import json
from importlib.resources import files




def test_finetune_commands(cli, fake_openai, tmp_path):
    cli("sources", "add", "sample", "--kind", "folder", "--path", str(files("knowledge") / "sample_help_center"))
    cli("sync")
    examples = str(files("knowledge") / "sample_finetune_examples.jsonl")
    assert "training + " in cli("finetune", "prepare", "--examples", examples, "--out", "ds").stdout
    assert "OK" in cli("finetune", "validate", "ds").stdout
    (tmp_path / "bad.jsonl").write_text('{"messages": []}\n')
    assert "error(s)" in cli("finetune", "validate", str(tmp_path / "bad.jsonl"), code=1).stdout

    assert "Started job" in cli("finetune", "start", "--data", "ds").stdout
    cli("finetune", "status", "1", "--wait", "--poll-seconds", "0")
    models = json.loads(cli("finetune", "status", "--json").stdout)
    assert models[0]["status"] == "ready" and models[0]["name"].startswith("ft:")

    fake_openai.default_reply = lambda r: "Tap **Swap** [1].\n\n— Tandem Support"
    out = json.loads(cli("finetune", "eval", "1", "--data", "ds", "--json").stdout)
    assert {"candidate", "base", "samples"} <= set(out)
    assert "now answers" in cli("finetune", "promote", "1").stdout
    assert "base model" in cli("finetune", "rollback").stdout

    assert "Registered model 2" in cli("finetune", "register", "my-voice", "--base-url", "http://127.0.0.1:9/v1",
                                       "--api-key-ref", "vllm").stdout
    assert cli("finetune", "register", "x", "--api-key-ref", "nope", code=1)
    assert "RECIPE.md" in cli("finetune", "export", "--data", "ds", "--out", "exp").stdout
