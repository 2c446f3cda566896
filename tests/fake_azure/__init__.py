"""A protocol-faithful fake of the Azure OpenAI Realtime WebSocket service, for tests.

It listens on 127.0.0.1 (random port) and speaks the wire described in
/work/shared/docs/azure-realtime-wire.md, as livekit-plugins-openai 1.8.x expects it:

    async with FakeAzureRealtime(api_key="test-key") as fake:
        fake.script.call_tool("get_order_status", {"order_number": "482913"})
        fake.script.say("Your order has shipped.")
        env = {"AZURE_OPENAI_ENDPOINT": fake.endpoint, ...}   # "http://127.0.0.1:PORT"
        ...                                                  # run the agent against it
        update = await fake.wait_for("response.create", count=2)
        assert fake.connection.path == "/openai/v1/realtime"

Connecting
    GA `/openai/v1/realtime?model=D` and legacy `/openai/realtime?api-version=V&deployment=D`.
    `api-key: KEY` or `Authorization: Bearer KEY` must match `api_key`, else HTTP 401 before the
    upgrade (recorded in `fake.rejections`). Unknown path 404, missing query parameter 400, a
    deployment other than `deployment` (when set) 404. Legacy sockets get the beta event names
    (`conversation.item.created`, `response.audio.delta`, ...) and a flat session object.

Protocol
    `session.created`; `session.update` -> `session.updated` with the merged session (GA
    requires `session.type`). `conversation.item.create` -> `conversation.item.added` (+ `.done`)
    with the same id, honouring `previous_item_id` ("root" = head). `conversation.item.delete`
    -> `.deleted`; `conversation.item.truncate` -> `.truncated` (recorded in `fake.truncations`;
    `audio_end_ms` longer than the audio sent for the item is an error, as on Azure).
    `response.create` -> `response.created` echoing `response.metadata` (so
    `client_event_id`), then the next scripted response (see `script.py`), then `response.done`
    with usage. A second `response.create` while one is active is refused, as on Azure.
    `response.cancel` ends the active response (`response.done` status cancelled, reason
    client_cancelled), or errors "Cancellation failed: no active response found".
    `input_audio_buffer.append` feeds an energy VAD (`vad.py`) configured from the session's
    turn detection: `speech_started {audio_start_ms, item_id}` (cancelling an active response,
    reason turn_detected), `speech_stopped`, `committed`, `conversation.item.added` (user,
    input_audio), the auto response when `create_response`, then
    `conversation.item.input_audio_transcription.completed` with the next scripted transcript
    (only when the session enables input transcription). `input_audio_buffer.clear` / `.commit`
    as on Azure (commit needs >= 100 ms of audio).

Reply audio is a 24 kHz PCM16 tone, `ms_per_char` ms per character (or `Say(audio_ms=...)`),
in 100 ms deltas. `pace` (fake-wide or per `Say`) paces them: 1.0 real time, 2.0 twice as fast
as they play (the real service runs ahead of playback), None all at once; a paced reply stays
active long enough for a caller to barge in mid-reply. A session with `output_modalities: ["text"]` gets `response.output_text.*`.

Public API (FakeAzureRealtime)
    FakeAzureRealtime(*, api_key="test-key", deployment=None, pace=None, ms_per_char=40.0,
                      script=None)
    await start() / await aclose() / async with ...        .endpoint, .port, .ws_url(...)
    .script                   Script: say(), call_tool(), respond(), fail(), transcribe()
    .connections, .connection Connection: path, query, headers (key redacted), api_key and
                              authorization (raw), deployment, mode, session, items, events
    .session                  merged session state of the latest connection
    .events(type=None)        client events (parsed JSON) in order; .sent(type=None) server events
    await .wait_for(type, *, timeout=5.0, count=1, where=None) -> the count-th matching event
    await .wait_for_sent(type, ...)   the same for server events; await .wait_connected()
    .received_pcm() -> bytes, .received_audio_ms() -> float (24 kHz mono PCM16 appended)
    .committed_audio          PCM of each committed user audio item
    .responses                ResponseRecord(id, client_event_id, instructions, trigger, status,
                              status_reason, output, request)
    .truncations              Truncation(item_id, content_index, audio_end_ms, item_audio_ms)
    .rejections               Rejection(status, path, reason) for refused upgrades
    .fail_next_response(*, code, message, type)   next response.create -> `error` event
    .reject_next_connection(status=503, message=...)
    await .send_error(*, code, message, type="invalid_request_error")
    await .drop_connection()

Around it: `script.py` (Script, Say, ToolCall, Fail), `vad.py` (EnergyVad), `audio.py` (PCM16
helpers), `session_io.py` (ScriptedMicrophone, SimulatedSpeaker for a room-less AgentSession)
and `fixtures.py` (pytest fixtures `fake_azure`, `http_session`; `agent_session(...)` running
the project's SupportAgent on the fake; `wait_until`).
"""

from .script import Fail, Say, Script, ScriptedResponse, ToolCall
from .server import (
    GA_PATH,
    LEGACY_PATH,
    REDACTED,
    Connection,
    FakeAzureRealtime,
    Rejection,
    ResponseRecord,
    Truncation,
)

__all__ = [
    "GA_PATH",
    "LEGACY_PATH",
    "REDACTED",
    "Connection",
    "Fail",
    "FakeAzureRealtime",
    "Rejection",
    "ResponseRecord",
    "Say",
    "Script",
    "ScriptedResponse",
    "ToolCall",
    "Truncation",
]
