"""What the fake model "decides": a queue of scripted responses and of spoken-turn transcripts.

    fake.script.call_tool("get_order_status", {"order_number": "482913"}).say("It has shipped.")

queues two responses: the first `response.create` gets the function call, the next one the
spoken message. `respond(...)` puts several outputs into one response. When the queue is empty a
response is `default_reply` (a short assistant message), so a stray or greeting response never
blocks a test. Spoken turns have no ASR: `transcribe(...)` queues the transcripts the fake reports
for the next committed user audio items (default: `default_transcript`).
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

DEFAULT_REPLY = "Is there anything else I can help you with?"
DEFAULT_TRANSCRIPT = "hello"


@dataclass(frozen=True)
class Say:
    """An assistant message, streamed as audio + transcript (or text in a text-only session)."""

    text: str
    audio_ms: float | None = None  # None: the fake's `ms_per_char` times the text length
    chunk_ms: int = 100  # size of each `response.output_audio.delta`
    pace: float | None = None  # seconds of audio sent per wall-clock second (1.0 = real time);
    # None: the fake's default pace (whose own default None sends everything at once)
    frequency: float = 220.0  # tone pitch; 0 for silence


@dataclass(frozen=True)
class ToolCall:
    """A function call output item; `arguments` is sent as a JSON string."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    call_id: str | None = None  # None: a fresh `call_...` id

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class Fail:
    """The response ends with `response.done` status `failed` and this error in status_details."""

    code: str = "server_error"
    message: str = "The server had an error while processing your request."
    type: str = "server_error"


Output = Say | ToolCall


@dataclass(frozen=True)
class ScriptedResponse:
    outputs: tuple[Output, ...]
    failure: Fail | None = None


class Script:
    def __init__(self, *, default_reply: str = DEFAULT_REPLY) -> None:
        self.default_reply = default_reply
        self.default_transcript = DEFAULT_TRANSCRIPT
        self._responses: deque[ScriptedResponse] = deque()
        self._transcripts: deque[str] = deque()

    # --- queueing (each returns the script, so calls chain) ---

    def say(self, text: str, **options: Any) -> Script:
        """Queue a response holding one assistant message; options as in `Say`."""
        return self.respond(Say(text, **options))

    def call_tool(
        self,
        name: str,
        arguments: dict[str, Any] | str | None = None,
        *,
        call_id: str | None = None,
    ) -> Script:
        """Queue a response holding one function call."""
        return self.respond(ToolCall(name, {} if arguments is None else arguments, call_id))

    def respond(self, *outputs: Output) -> Script:
        """Queue one response with these output items, in order."""
        self._responses.append(ScriptedResponse(tuple(outputs)))
        return self

    def fail(
        self, *, code: str = "server_error", message: str | None = None, type: str = "server_error"
    ) -> Script:
        """Queue a response that fails (`response.done` status failed) without output."""
        failure = Fail(code, message or Fail.message, type)
        self._responses.append(ScriptedResponse((), failure))
        return self

    def transcribe(self, *transcripts: str) -> Script:
        """Queue what the caller "said" in the next spoken turns, one transcript per turn."""
        self._transcripts.extend(transcripts)
        return self

    # --- consumed by the server ---

    @property
    def pending_responses(self) -> int:
        return len(self._responses)

    @property
    def pending_transcripts(self) -> int:
        return len(self._transcripts)

    def next_response(self) -> ScriptedResponse:
        if self._responses:
            return self._responses.popleft()
        return ScriptedResponse((Say(self.default_reply),))

    def next_transcript(self) -> str:
        return self._transcripts.popleft() if self._transcripts else self.default_transcript
