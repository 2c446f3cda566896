"""The fake Azure realtime service itself, driven by a bare aiohttp WebSocket client."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.fake_azure import REDACTED, FakeAzureRealtime
from tests.fake_azure import audio as pcm

KEY = "test-key"


@pytest.fixture
async def fake():
    async with FakeAzureRealtime(api_key=KEY) as server:
        yield server


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


class Client:
    """A minimal realtime client: send events, read events until a type shows up."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(event))

    async def until(self, type: str, timeout: float = 3.0) -> dict[str, Any]:  # noqa: ASYNC109 (a test helper's deadline)
        while True:
            message = await self.ws.receive(timeout=timeout)
            assert message.type == aiohttp.WSMsgType.TEXT, message
            event = json.loads(message.data)
            self.seen.append(event)
            if event["type"] == type:
                return event

    def types(self) -> list[str]:
        return [e["type"] for e in self.seen]


async def connect(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> Client:
    ws = await http.ws_connect(url, headers={"api-key": KEY} if headers is None else headers)
    client = Client(ws)
    await client.until("session.created")
    return client


async def test_upgrade_without_or_with_wrong_key_is_refused_with_401(fake, http):
    for headers in ({}, {"api-key": "wrong"}, {"Authorization": "Bearer wrong"}):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(fake.ws_url(), headers=headers)
        assert refused.value.status == 401
    assert [r.status for r in fake.rejections] == [401, 401, 401]
    assert fake.connections == []


async def test_ga_url_with_api_key_is_recorded_with_the_key_redacted(fake, http):
    await connect(http, fake.ws_url(deployment="gpt-realtime"))

    conn = fake.connection
    assert (conn.path, conn.query, conn.mode) == (
        "/openai/v1/realtime",
        {"model": "gpt-realtime"},
        "ga",
    )
    assert conn.deployment == "gpt-realtime"
    assert conn.headers["api-key"] == REDACTED
    assert conn.api_key == KEY


async def test_legacy_url_and_bearer_token_are_served_with_beta_event_names(fake, http):
    url = fake.ws_url(deployment="gpt-realtime", api_version="2025-04-01-preview")
    client = await connect(http, url, headers={"Authorization": f"Bearer {KEY}"})

    await client.send(
        {"type": "session.update", "session": {"modalities": ["text"], "instructions": "Be brief."}}
    )
    updated = await client.until("session.updated")
    await client.send(
        {
            "type": "conversation.item.create",
            "item": {
                "id": "u1",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi"}],
            },
        }
    )
    await client.until("conversation.item.created")
    await client.send({"type": "response.create", "response": {}})
    await client.until("response.done")

    conn = fake.connection
    assert (conn.mode, conn.deployment) == ("legacy", "gpt-realtime")
    assert conn.query["api-version"] == "2025-04-01-preview"
    assert (
        conn.authorization == f"Bearer {KEY}"
        and conn.headers["Authorization"] == f"Bearer {REDACTED}"
    )
    assert updated["session"]["instructions"] == "Be brief."
    assert "response.text.delta" in client.types()
    assert "conversation.item.added" not in client.types()


async def test_missing_deployment_or_unknown_path_is_refused_before_upgrade(fake, http):
    for url, status in (
        (f"{fake.endpoint.replace('http', 'ws')}/openai/v1/realtime", 400),
        (f"{fake.endpoint.replace('http', 'ws')}/v1/realtime?model=x", 404),
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url, headers={"api-key": KEY})
        assert refused.value.status == status


async def test_session_update_merges_the_nested_ga_session(fake, http):
    client = await connect(http, fake.ws_url())
    await client.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"output": {"voice": "marin"}}},
        }
    )
    await client.until("session.updated")
    await client.send(
        {"type": "session.update", "session": {"type": "realtime", "instructions": "Help."}}
    )
    session = (await client.until("session.updated"))["session"]

    assert session["instructions"] == "Help."
    assert session["audio"]["output"]["voice"] == "marin"
    assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"  # untouched default


async def test_ga_session_update_without_type_is_an_error(fake, http):
    client = await connect(http, fake.ws_url())
    await client.send(
        {"type": "session.update", "event_id": "ev1", "session": {"instructions": "x"}}
    )
    error = (await client.until("error"))["error"]
    assert error["param"] == "session.type" and error["event_id"] == "ev1"


async def test_item_create_is_acknowledged_with_the_same_id_and_root_goes_first(fake, http):
    client = await connect(http, fake.ws_url())
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    await client.send({"type": "conversation.item.create", "item": {**item, "id": "a"}})
    first = await client.until("conversation.item.added")
    await client.send(
        {
            "type": "conversation.item.create",
            "previous_item_id": "root",
            "item": {**item, "id": "b"},
        }
    )
    second = await client.until("conversation.item.added")
    await client.send(
        {"type": "conversation.item.create", "event_id": "dup", "item": {**item, "id": "a"}}
    )
    duplicate = await client.until("error")

    assert first["item"]["id"] == "a" and first["previous_item_id"] is None
    assert second["item"]["id"] == "b" and second["previous_item_id"] is None
    assert [i["id"] for i in fake.connection.items] == ["b", "a"]
    assert duplicate["error"]["code"] == "item_create_duplicate_item_id"
    assert duplicate["error"]["event_id"] == "dup"


async def test_item_delete_is_acknowledged(fake, http):
    client = await connect(http, fake.ws_url())
    await client.send(
        {
            "type": "conversation.item.create",
            "item": {"id": "a", "type": "message", "role": "user", "content": []},
        }
    )
    await client.until("conversation.item.added")
    await client.send({"type": "conversation.item.delete", "item_id": "a"})
    deleted = await client.until("conversation.item.deleted")
    assert deleted["item_id"] == "a" and fake.connection.items == []


async def test_scripted_function_call_streams_the_documented_event_sequence(fake, http):
    fake.script.call_tool("get_order_status", {"order_number": "482913"}, call_id="call_1")
    fake.script.say("Your order has shipped.")
    client = await connect(http, fake.ws_url())

    await client.send(
        {
            "type": "response.create",
            "event_id": "rc1",
            "response": {"metadata": {"client_event_id": "rc1"}},
        }
    )
    done = await client.until("response.done")
    call_types = client.types()[1:]
    call_item = done["response"]["output"][0]

    await client.send(
        {
            "type": "conversation.item.create",
            "previous_item_id": call_item["id"],
            "item": {
                "id": "out1",
                "type": "function_call_output",
                "call_id": "call_1",
                "output": "shipped",
            },
        }
    )
    await client.until("conversation.item.done")
    client.seen.clear()
    await client.send(
        {
            "type": "response.create",
            "event_id": "rc2",
            "response": {"metadata": {"client_event_id": "rc2"}},
        }
    )
    done_reply = await client.until("response.done")

    assert call_types == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "conversation.item.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.done",
    ]
    assert client.seen[0]["response"]["metadata"] == {"client_event_id": "rc2"}
    assert call_item["type"] == "function_call" and call_item["call_id"] == "call_1"
    assert call_item["name"] == "get_order_status"
    assert json.loads(call_item["arguments"]) == {"order_number": "482913"}

    reply_types = [t for t in client.types() if not t.endswith(".delta")]
    assert reply_types == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "conversation.item.done",
        "response.content_part.added",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.done",
    ]
    transcript = "".join(
        e["delta"] for e in client.seen if e["type"] == "response.output_audio_transcript.delta"
    )
    audio = b"".join(
        pcm.from_base64(e["delta"])
        for e in client.seen
        if e["type"] == "response.output_audio.delta"
    )
    assert transcript == "Your order has shipped."
    assert pcm.duration_ms(audio) == pytest.approx(fake.ms_per_char * len(transcript), abs=1)
    assert (
        done_reply["response"]["status"] == "completed"
        and done_reply["response"]["usage"]["total_tokens"] > 0
    )
    assert [r.client_event_id for r in fake.responses] == ["rc1", "rc2"]


async def test_text_only_session_gets_output_text_events(fake, http):
    fake.script.say("Hello there.")
    client = await connect(http, fake.ws_url())
    await client.send(
        {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}
    )
    await client.send({"type": "response.create", "response": {}})
    done = await client.until("response.done")

    assert "response.output_audio.delta" not in client.types()
    text = "".join(e["delta"] for e in client.seen if e["type"] == "response.output_text.delta")
    assert text == "Hello there."
    assert done["response"]["output"][0]["content"] == [
        {"type": "output_text", "text": "Hello there."}
    ]


async def test_cancel_ends_a_paced_response_and_a_second_cancel_fails(fake, http):
    fake.script.say("A long answer.", audio_ms=5000, pace=1.0)
    client = await connect(http, fake.ws_url())
    await client.send({"type": "response.create", "response": {}})
    await client.until("response.output_audio.delta")
    await client.send({"type": "response.cancel"})
    done = await client.until("response.done")
    await client.send({"type": "response.cancel"})
    error = await client.until("error")

    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "client_cancelled"
    assert error["error"]["message"].startswith("Cancellation failed")


async def test_fail_next_response_answers_with_an_error_carrying_the_event_id(fake, http):
    fake.fail_next_response(
        code="rate_limit_exceeded", message="Slow down.", type="invalid_request_error"
    )
    client = await connect(http, fake.ws_url())
    await client.send({"type": "response.create", "event_id": "rc9", "response": {}})
    error = (await client.until("error"))["error"]
    assert (error["code"], error["event_id"]) == ("rate_limit_exceeded", "rc9")
    assert fake.responses == []


async def test_vad_detects_a_burst_of_speech_in_silence_and_answers_it(fake, http):
    fake.script.transcribe("where is my order").say("Let me check.")
    client = await connect(http, fake.ws_url())
    await client.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"input": {"transcription": {"model": "whisper-1"}}},
            },
        }
    )
    stream = pcm.silence(1000) + pcm.tone(700, frequency=300) + pcm.silence(600)
    for chunk in pcm.chunks(stream, 100):
        await client.send({"type": "input_audio_buffer.append", "audio": pcm.to_base64(chunk)})

    started = await client.until("input_audio_buffer.speech_started")
    stopped = await client.until("input_audio_buffer.speech_stopped")
    await client.until("response.done")
    transcribed = [
        e
        for e in client.seen
        if e["type"] == "conversation.item.input_audio_transcription.completed"
    ]

    # speech begins at 1000 ms; start is reported with the 300 ms prefix padding
    assert started["audio_start_ms"] == 700
    # and stops once 200 ms of silence follow the burst's end at 1700 ms
    assert stopped["audio_end_ms"] == 1900
    order = [
        t
        for t in client.types()
        if t
        in (
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "response.created",
        )
    ]
    assert order[:4] == [
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "response.created",
    ]
    user_item = fake.connection.items[0]
    assert (user_item["role"], user_item["id"]) == ("user", started["item_id"])
    assert transcribed[0]["item_id"] == started["item_id"]
    assert transcribed[0]["transcript"] == "where is my order"
    assert pcm.voiced_ms(fake.committed_audio[0]) == pytest.approx(700, abs=20)
    assert fake.received_audio_ms() == pytest.approx(2300)
    assert fake.responses[0].trigger == "server_vad"


async def test_silence_alone_never_triggers_speech(fake, http):
    client = await connect(http, fake.ws_url())
    for chunk in pcm.chunks(pcm.silence(1500) + pcm.tone(10), 100):
        await client.send({"type": "input_audio_buffer.append", "audio": pcm.to_base64(chunk)})
    await client.send({"type": "input_audio_buffer.clear"})
    await client.until("input_audio_buffer.cleared")
    assert "input_audio_buffer.speech_started" not in client.types()


async def test_speech_during_a_reply_cancels_it_as_turn_detected(fake, http):
    fake.script.say("A very long answer.", audio_ms=5000, pace=1.0)
    client = await connect(http, fake.ws_url())
    await client.send({"type": "response.create", "response": {}})
    delta = await client.until("response.output_audio.delta")
    for chunk in pcm.chunks(pcm.tone(300), 100):
        await client.send({"type": "input_audio_buffer.append", "audio": pcm.to_base64(chunk)})
    await client.until("input_audio_buffer.speech_started")
    done = await client.until("response.done")
    await client.send(
        {
            "type": "conversation.item.truncate",
            "item_id": delta["item_id"],
            "content_index": 0,
            "audio_end_ms": 50,
        }
    )
    truncated = await client.until("conversation.item.truncated")
    await client.send(
        {
            "type": "conversation.item.truncate",
            "item_id": delta["item_id"],
            "content_index": 0,
            "audio_end_ms": 4000,
        }
    )
    too_long = await client.until("error")

    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "turn_detected"
    assert truncated["audio_end_ms"] == 50
    assert too_long["error"]["param"] == "audio_end_ms"
    assert [(t.item_id, t.audio_end_ms) for t in fake.truncations] == [(delta["item_id"], 50)]


async def test_wait_for_returns_the_recorded_client_event(fake, http):
    client = await connect(http, fake.ws_url())
    await client.send(
        {
            "type": "conversation.item.create",
            "item": {"id": "x", "type": "message", "role": "user", "content": []},
        }
    )
    event = await fake.wait_for("conversation.item.create", timeout=2)
    assert event["item"]["id"] == "x"
    with pytest.raises(AssertionError, match="response.create"):
        await fake.wait_for("response.create", timeout=0.2)


async def test_scripted_failure_ends_the_response_as_failed(fake, http):
    fake.script.fail(code="rate_limit_exceeded", message="Too many requests.", type="rate_limit")
    client = await connect(http, fake.ws_url())
    await client.send({"type": "response.create", "response": {}})
    done = (await client.until("response.done"))["response"]

    assert done["status"] == "failed"
    assert done["status_details"]["error"] == {
        "type": "rate_limit",
        "code": "rate_limit_exceeded",
        "message": "Too many requests.",
    }


async def test_reject_next_connection_refuses_one_upgrade_only(fake, http):
    fake.reject_next_connection(429, "Too many connections")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(fake.ws_url(), headers={"api-key": KEY})
    await connect(http, fake.ws_url())

    assert refused.value.status == 429
    assert len(fake.connections) == 1
