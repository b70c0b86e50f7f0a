"""Self-checks: the real openai / slack_sdk / slack_bolt clients against the loopback fakes."""

from __future__ import annotations

import json
import math
import time

import httpx
import openai
import pytest
from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from fakes.http import LoopbackServer, json_response, route
from fakes.openai_server import Delay, FakeOpenAI, Fault, embed_text
from fakes.slack_server import FakeSlack

TRAINING_JSONL = b"".join(
    json.dumps(
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
    ).encode()
    + b"\n"
    for i in range(10)
)


@pytest.fixture
def oai():
    with FakeOpenAI() as server:
        yield server
    assert not server.errors, server.errors  # a handler crash is a bug in the fake


@pytest.fixture
def client(oai):
    return openai.OpenAI(base_url=oai.url + "/v1", api_key="test", max_retries=0)


@pytest.fixture
def slack():
    with FakeSlack() as server:
        yield server
    assert not server.errors, server.errors


@pytest.fixture
def web(slack):
    return WebClient(token="xoxb-test", base_url=slack.url + "/api/")


def _cos(a, b):
    return sum(x * y for x, y in zip(a, b))


# --------------------------------------------------------------------------- OpenAI


def test_embeddings_float_are_unit_vectors_and_similar_texts_are_close(oai, client):
    texts = ["How do I reset my password?", "reset password link", "Refund an invoice"]
    resp = client.embeddings.create(model="text-embedding-3-small", input=texts, encoding_format="float")

    vecs = [d.embedding for d in resp.data]
    assert [d.index for d in resp.data] == [0, 1, 2]
    assert all(len(v) == 64 and math.isclose(math.sqrt(_cos(v, v)), 1.0) for v in vecs)
    assert _cos(vecs[0], vecs[1]) > _cos(vecs[0], vecs[2])
    assert resp.usage.prompt_tokens == 12 and resp.model == "text-embedding-3-small"
    assert oai.embedded_inputs == 3

    resp = client.embeddings.create(model="text-embedding-3-large", input="hello", dimensions=16)
    assert len(resp.data[0].embedding) == 16
    assert oai.embedded_inputs == 4


def test_embeddings_default_encoding_is_base64_and_decodes_to_same_vector(oai, client):
    resp = client.embeddings.create(model="text-embedding-3-small", input="reset my password")
    assert oai.calls("/embeddings")[-1].json["encoding_format"] == "base64"  # the SDK's default
    expected = embed_text("reset my password", 64)
    assert resp.data[0].embedding == pytest.approx(expected, abs=1e-6)

    raw = client.embeddings.create(model="text-embedding-3-small", input="x", encoding_format="base64")
    assert isinstance(raw.data[0].embedding, str)  # SDK leaves explicit base64 alone


def test_chat_completion_scripted_and_default_replies(oai, client):
    oai.enqueue("Scripted answer.")
    resp = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Reset password?"}],
    )
    assert resp.object == "chat.completion" and resp.model == "gpt-4o-mini"
    assert resp.choices[0].message.content == "Scripted answer."
    assert resp.choices[0].finish_reason == "stop"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (4, 2, 6)
    assert resp._request_id and resp._request_id.startswith("req_")

    oai.default_reply = lambda body: "echo: " + body["messages"][-1]["content"]
    resp = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert resp.choices[0].message.content == "echo: hi"
    assert [b["model"] for b in oai.chat_requests()] == ["gpt-4o-mini", "gpt-4o"]
    assert oai.chat_requests()[0]["messages"][0] == {"role": "system", "content": "Be brief."}


def test_chat_completion_streaming(oai, client):
    oai.enqueue("Hello there friend")
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there friend"
    assert chunks[-1].usage.completion_tokens == 3


def test_server_error_then_success_is_retried_by_sdk(oai):
    retrying = openai.OpenAI(base_url=oai.url + "/v1", api_key="test", max_retries=1)
    oai.enqueue(Fault(500, retry_after=0), "recovered")
    resp = retrying.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert resp.choices[0].message.content == "recovered"
    attempts = oai.calls("/chat/completions")
    assert [a.headers["x-stainless-retry-count"] for a in attempts] == ["0", "1"]


def test_rate_limit_fault_and_retry_after_ms(oai, client):
    oai.fail_next("/embeddings", Fault(429, retry_after_ms=1))
    with pytest.raises(openai.RateLimitError) as exc:
        client.embeddings.create(model="text-embedding-3-small", input="x")
    assert exc.value.code == "rate_limit_exceeded"
    assert exc.value.response.headers["retry-after-ms"] == "1"

    oai.fail_next("/embeddings", Fault(429, retry_after_ms=1))
    retrying = client.with_options(max_retries=1)
    assert len(retrying.embeddings.create(model="text-embedding-3-small", input="x").data) == 1


def test_missing_model_is_404_not_found(oai, client):
    oai.missing_models.add("gpt-9")
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    assert exc.value.code == "model_not_found"
    assert exc.value.message.endswith("The model `gpt-9` does not exist or you do not have access to it.")


def test_delay_triggers_client_timeout(oai, client):
    oai.enqueue(Delay(2, then="too late"), "on time")
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.2).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    assert time.monotonic() - started < 1.5
    resp = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert resp.choices[0].message.content == "on time"


def test_missing_api_key_is_401(oai):
    resp = httpx.post(oai.url + "/v1/chat/completions", json={"model": "m", "messages": []})
    assert resp.status_code == 401 and resp.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(oai.url + "/v1/nope", headers={"Authorization": "Bearer t"}).status_code == 404


def test_files_and_fine_tuning_job_lifecycle(oai, client):
    f = client.files.create(file=("train.jsonl", TRAINING_JSONL), purpose="fine-tune")
    assert (f.object, f.purpose, f.bytes, f.filename) == ("file", "fine-tune", len(TRAINING_JSONL), "train.jsonl")
    assert client.files.retrieve(f.id).id == f.id
    assert oai.files[f.id]["content"] == TRAINING_JSONL

    job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=f.id)
    assert job.status == "validating_files" and job.fine_tuned_model is None
    statuses = [client.fine_tuning.jobs.retrieve(job.id).status for _ in range(3)]
    assert statuses == ["running", "succeeded", "succeeded"]
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.fine_tuned_model == f"ft:gpt-4o-mini-2024-07-18:tandem::{job.id[-8:]}"
    assert done.trained_tokens and done.result_files

    events = [e.message for e in client.fine_tuning.jobs.list_events(job.id)]
    assert events[0] == "The job has successfully completed"  # newest first
    assert events[-1] == f"Created fine-tuning job: {job.id}"

    second = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=f.id, suffix="kb")
    assert client.fine_tuning.jobs.cancel(second.id).status == "cancelled"
    assert [j.id for j in client.fine_tuning.jobs.list()] == [second.id, job.id]
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job.id)  # already finished


def test_fine_tuning_failures(oai, client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-missing")
    assert exc.value.param == "training_file"

    good = oai.add_file(TRAINING_JSONL)
    oai.job_outcome = "failed"
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=good)
    client.fine_tuning.jobs.retrieve(job.id)
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed" and failed.error and failed.error.code

    bad = client.files.create(file=("bad.jsonl", b'{"prompt": "x"}\n'), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=bad.id)
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed" and failed.error.code == "invalid_training_file"

    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-nope")


def test_fine_tuning_refusal(oai, client):
    oai.refuse_new_jobs = True
    file_id = oai.add_file(TRAINING_JSONL)
    with pytest.raises(openai.BadRequestError) as exc:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=file_id)
    assert "no longer available" in exc.value.message
    assert exc.value.code == "fine_tuning_unavailable"
    assert not oai.jobs


# --------------------------------------------------------------------------- Slack


def test_post_message_with_blocks_and_increasing_ts(slack, web):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Answer*"}}]
    first = web.chat_postMessage(channel="C1", text="Answer", blocks=blocks, thread_ts="1700000000.000001")
    second = web.chat_postMessage(channel="C1", text="more")
    assert first["ok"] and first["channel"] == "C1" and first["message"]["blocks"] == blocks
    assert float(second["ts"]) > float(first["ts"])

    # Form-encoded calls carry blocks as a JSON string; posted_messages() decodes it.
    web.api_call("chat.postMessage", params={"channel": "C2", "text": "t", "blocks": json.dumps(blocks)})
    posted = slack.posted_messages()
    assert [p["blocks"] for p in posted if "blocks" in p] == [blocks, blocks]
    assert posted[0]["thread_ts"] == "1700000000.000001"
    assert slack.posted_messages(channel="C2")[0]["text"] == "t"
    assert slack.calls_to("chat.postMessage")[0].bearer_token == "xoxb-test"


def test_conversations_replies_includes_seeded_and_bot_messages(slack, web):
    slack.set_thread("C1", "100.000001", [{"user": "U1", "text": "How do I reset?", "ts": "100.000001"}])
    web.chat_postMessage(channel="C1", text="Like this.", thread_ts="100.000001")
    replies = web.conversations_replies(channel="C1", ts="100.000001")
    assert [m["text"] for m in replies["messages"]] == ["How do I reset?", "Like this."]
    assert replies["messages"][1]["bot_id"] == slack.bot_id

    with pytest.raises(SlackApiError) as exc:
        web.conversations_replies(channel="C1", ts="999.0")
    assert exc.value.response["error"] == "thread_not_found"


def test_other_methods(slack, web):
    auth = web.auth_test()
    assert (auth["user"], auth["user_id"], auth["bot_id"], auth["team_id"]) == (
        "supportbot", slack.bot_user_id, slack.bot_id, slack.team_id
    )
    ts = web.chat_postMessage(channel="C1", text="draft")["ts"]
    assert web.chat_update(channel="C1", ts=ts, text="final")["message"]["text"] == "final"
    assert web.chat_postEphemeral(channel="C1", user="U1", text="psst")["message_ts"]
    web.reactions_add(channel="C1", timestamp="1.1", name="eyes")
    assert slack.reactions[("C1", "1.1")] == ["eyes"]
    with pytest.raises(SlackApiError):
        web.reactions_add(channel="C1", timestamp="1.1", name="eyes")  # already_reacted
    web.reactions_remove(channel="C1", timestamp="1.1", name="eyes")
    web.chat_delete(channel="C1", ts=ts)
    with pytest.raises(SlackApiError):
        web.chat_update(channel="C1", ts=ts, text="gone")  # message_not_found

    home = web.views_publish(user_id="U1", view={"type": "home", "blocks": []})
    assert home["view"]["id"].startswith("V") and slack.home_views["U1"]["type"] == "home"
    modal = web.views_open(trigger_id="123.456", view={"type": "modal", "title": {"type": "plain_text", "text": "T"}})
    updated = web.views_update(view_id=modal["view"]["id"], view={"type": "modal", "blocks": []})
    assert updated["view"]["id"] == modal["view"]["id"]

    slack.set_user("U1", real_name="Ada Lovelace")
    assert web.users_info(user="U1")["user"]["real_name"] == "Ada Lovelace"
    assert web.users_info(user="U2")["user"]["id"] == "U2"
    assert web.conversations_info(channel="C9")["channel"]["id"] == "C9"
    slack.set_usergroup("S1", ["U1", "U2"])
    assert web.usergroups_users_list(usergroup="S1")["users"] == ["U1", "U2"]

    with pytest.raises(SlackApiError) as exc:
        web.api_call("nope.method")
    assert exc.value.response["error"] == "unknown_method"

    slack.on("team.info", {"team": {"id": "T0TANDEM", "name": "Tandem"}})
    assert web.team_info()["team"]["name"] == "Tandem"


def test_missing_token_is_not_authed(slack):
    with pytest.raises(SlackApiError) as exc:
        WebClient(base_url=slack.url + "/api/").chat_postMessage(channel="C1", text="hi")
    assert exc.value.response["error"] == "not_authed"


def test_rate_limit_raises_without_retry_handler(slack, web):
    slack.fail_next("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as exc:
        web.chat_postMessage(channel="C1", text="hi")
    assert exc.value.response.status_code == 429
    assert exc.value.response["error"] == "ratelimited"
    assert exc.value.response.headers["Retry-After"] == "7"


def test_rate_limit_retried_by_retry_handler(slack, web, monkeypatch):
    # Record the handler's sleep instead of waiting (it sleeps Retry-After + random()).
    slept: list[float] = []
    monkeypatch.setattr(builtin_handlers, "time", type("T", (), {"sleep": staticmethod(slept.append)}))
    web.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    slack.fail_next("chat.postMessage", retry_after=3)
    assert web.chat_postMessage(channel="C1", text="hi")["ok"]
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert len(slept) == 1 and 3 <= slept[0] < 4


def test_other_failures_are_http_200_errors(slack, web):
    slack.fail_next("chat.postMessage", error="channel_not_found", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as exc:
            web.chat_postMessage(channel="C404", text="hi")
        assert exc.value.response.status_code == 200
        assert exc.value.response["error"] == "channel_not_found"
    assert web.chat_postMessage(channel="C404", text="hi")["ok"]


def test_response_url_sink(slack):
    WebhookClient(slack.response_url("abc")).send(text="ephemeral answer", response_type="ephemeral")
    assert slack.responses("abc") == [{"text": "ephemeral answer", "response_type": "ephemeral"}]


def test_bolt_slash_command_respond_goes_to_response_url(slack):
    app = App(
        client=WebClient(token="xoxb-test", base_url=slack.url + "/api/"),
        signing_secret="secret",
        request_verification_enabled=False,
    )

    @app.command("/ask")
    def ask(ack, respond, command):
        ack()
        respond(f"You asked: {command['text']}")

    body = (
        "command=%2Fask&text=reset+password&user_id=U1&channel_id=C1&team_id=T0TANDEM"
        f"&trigger_id=1.2&response_url={slack.response_url('cmd1')}"
    )
    resp = app.dispatch(BoltRequest(body=body, headers={"content-type": ["application/x-www-form-urlencoded"]}))
    assert resp.status == 200
    slack.wait_for_calls("/response/cmd1", timeout=5)
    assert slack.responses("cmd1")[0]["text"] == "You asked: reset password"


# --------------------------------------------------------------------------- base server


def test_loopback_server_routing_recording_and_delay():
    class Echo(LoopbackServer):
        @route("POST", "/echo/{name}")
        def echo(self, req, name):
            return json_response({"name": name, "json": req.json, "form": req.form, "q": req.query})

        @route("GET", "/slow", delay=0.5)
        def slow(self, req):
            return 200, {}, "done"

    with Echo() as server:
        assert server.url.startswith("http://127.0.0.1:")
        got = httpx.post(server.url + "/echo/bob?x=1", json={"a": 1}).json()
        assert got == {"name": "bob", "json": {"a": 1}, "form": None, "q": {"x": "1"}}
        assert httpx.post(server.url + "/echo/amy", data={"b": "2"}).json()["form"] == {"b": "2"}
        assert [r.path for r in server.calls("/bob")] == ["/echo/bob"]
        assert httpx.get(server.url + "/missing").status_code == 404
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(server.url + "/slow", timeout=0.1)
        server.set_delay("/amy", 0.5)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(server.url + "/echo/amy", json={}, timeout=0.1)
        assert len(server.requests) == 5  # timed-out requests are still recorded


def test_slack_delay_times_out_web_client(slack):
    slack.set_delay("/api/chat.postMessage", 1)
    impatient = WebClient(token="xoxb-test", base_url=slack.url + "/api/", timeout=0.2, retry_handlers=[])
    with pytest.raises(TimeoutError):
        impatient.chat_postMessage(channel="C1", text="hi")
