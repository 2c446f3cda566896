"""The fake Azure OpenAI Realtime service: HTTP upgrade, auth, and one protocol engine per socket.

See the package docstring (`tests/fake_azure/__init__.py`) for the public API and an example.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from . import audio
from .script import Fail, Say, Script, ScriptedResponse, ToolCall
from .vad import EnergyVad, VadEvent, VadSettings

GA_PATH = "/openai/v1/realtime"
LEGACY_PATH = "/openai/realtime"
REDACTED = "***"

# Legacy (preview) connections speak the beta event names; the plugin maps them back.
_LEGACY_EVENT_NAMES = {
    "conversation.item.added": "conversation.item.created",
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
}
_GA_ONLY_EVENTS = {"conversation.item.done"}


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`session.update` semantics: nested objects merge, everything else (lists, null) replaces."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _redact_headers(headers: Any) -> dict[str, str]:
    redacted = {}
    for name, value in headers.items():
        if name.lower() == "api-key":
            value = REDACTED
        elif name.lower() == "authorization":
            value = f"{value.split(' ', 1)[0]} {REDACTED}" if " " in value else REDACTED
        redacted[name] = value
    return redacted


class ProtocolError(Exception):
    """A client event the service refuses: becomes an `error` server event."""

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.param = message, code, param


@dataclass
class Rejection:
    """An HTTP request refused before the WebSocket upgrade."""

    status: int
    path: str
    reason: str


@dataclass
class ResponseRecord:
    """One response the fake produced, for assertions."""

    id: str
    client_event_id: str | None  # the `response.metadata.client_event_id` echoed back
    instructions: str | None  # `response.instructions` of the `response.create`, if any
    trigger: str  # "response.create" or "server_vad"
    status: str = "in_progress"  # then completed / cancelled / failed
    status_reason: str | None = None  # e.g. turn_detected, client_cancelled
    output: list[dict[str, Any]] = field(default_factory=list)
    request: dict[str, Any] = field(default_factory=dict)  # the `response` object of the request


@dataclass
class Truncation:
    item_id: str
    content_index: int
    audio_end_ms: int
    item_audio_ms: float  # how much audio the fake had sent for that item


class _ActiveResponse:
    def __init__(self, record: ResponseRecord) -> None:
        self.record = record
        self.cancelled = asyncio.Event()
        self.cancel_reason = "client_cancelled"
        self.task: asyncio.Task[None] | None = None

    def cancel(self, reason: str) -> None:
        if not self.cancelled.is_set():
            self.cancel_reason = reason
            self.cancelled.set()

    async def pause(self, seconds: float) -> None:
        """Sleep for real-time pacing, waking at once on cancellation."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.cancelled.wait(), seconds)


class Connection:
    """One client WebSocket: the request as received, and the Realtime protocol state."""

    def __init__(
        self, fake: FakeAzureRealtime, request: web.Request, ws: web.WebSocketResponse, mode: str
    ) -> None:
        self._fake = fake
        self._ws = ws
        self._send_lock = asyncio.Lock()
        self.mode = mode  # "ga" or "legacy"
        self.path = request.path
        self.query = dict(request.query)
        self.headers = _redact_headers(request.headers)  # safe to print
        self.api_key = request.headers.get("api-key")  # raw, for assertions only
        self.authorization = request.headers.get("Authorization")  # raw, for assertions only
        self.deployment = self.query.get("model") if mode == "ga" else self.query.get("deployment")
        self.session_id = _new_id("sess")
        self.session = self._initial_session()
        self.items: list[dict[str, Any]] = []  # the server-side conversation, in order
        self.events: list[dict[str, Any]] = []  # client events on this connection
        self.closed = False
        self._item_audio_ms: dict[str, float] = {}
        self._audio_clock_ms = 0.0  # audio received on this socket
        self._buffer = b""  # input audio buffer since the last commit/clear
        self._buffer_start_ms = 0.0
        self._vad: EnergyVad | None = None
        self._vad_settings: VadSettings | None = None
        self._vad_offset_ms = 0.0  # where the current VAD's clock starts on the socket's clock
        self._pending_user_item = _new_id("item")  # the item id announced at speech start
        self._speech_start_ms = 0.0
        self._configure_vad()
        self._active: _ActiveResponse | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- session state ---

    def _initial_session(self) -> dict[str, Any]:
        vad = {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 200,
            "create_response": True,
            "interrupt_response": True,
        }
        common = {
            "id": self.session_id,
            "object": "realtime.session",
            "model": self.deployment,
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
        }
        if self.mode == "legacy":
            return {
                **common,
                "modalities": ["text", "audio"],
                "voice": "alloy",
                "input_audio_format": "pcm16",
                "output_audio_format": "pcm16",
                "input_audio_transcription": None,
                "turn_detection": vad,
                "max_response_output_tokens": "inf",
            }
        return {
            **common,
            "type": "realtime",
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": audio.WIRE_RATE},
                    "transcription": None,
                    "turn_detection": vad,
                },
                "output": {
                    "format": {"type": "audio/pcm", "rate": audio.WIRE_RATE},
                    "voice": "alloy",
                },
            },
            "max_output_tokens": "inf",
        }

    def turn_detection(self) -> dict[str, Any] | None:
        """The session's turn detection, whichever shape (GA nested or legacy flat) set it."""
        if "turn_detection" in self.session:
            return self.session["turn_detection"]
        return self.session.get("audio", {}).get("input", {}).get("turn_detection")

    def transcription(self) -> dict[str, Any] | None:
        if "input_audio_transcription" in self.session:
            return self.session["input_audio_transcription"]
        return self.session.get("audio", {}).get("input", {}).get("transcription")

    def output_modalities(self, request: dict[str, Any] | None = None) -> list[str]:
        for source in (request or {}, self.session):
            for key in ("output_modalities", "modalities"):
                if source.get(key):
                    return list(source[key])
        return ["audio"]

    def _configure_vad(self) -> None:
        settings = VadSettings.from_turn_detection(self.turn_detection())
        if settings == self._vad_settings:
            return
        self._vad_settings = settings
        self._vad = EnergyVad(settings) if settings else None
        if self._vad is not None:
            self._vad_offset_ms = self._audio_clock_ms

    # --- sending ---

    async def send(self, event: dict[str, Any]) -> None:
        event_type = event["type"]
        if self.mode == "legacy":
            if event_type in _GA_ONLY_EVENTS:
                return
            event = {**event, "type": _LEGACY_EVENT_NAMES.get(event_type, event_type)}
        event.setdefault("event_id", _new_id("event"))
        text = json.dumps(event)
        async with self._send_lock:
            if self._ws.closed:
                return
            self._fake._record_server(self, json.loads(text))  # a snapshot: state changes later
            await self._ws.send_str(text)

    async def send_error(
        self,
        message: str,
        *,
        code: str | None = None,
        type: str = "invalid_request_error",
        event_id: str | None = None,
        param: str | None = None,
    ) -> None:
        error = {
            "type": type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": event_id,
        }
        await self.send({"type": "error", "error": error})

    # --- the socket loop ---

    async def serve(self) -> None:
        await self.send({"type": "session.created", "session": self.session})
        handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "session.update": self._on_session_update,
            "conversation.item.create": self._on_item_create,
            "conversation.item.delete": self._on_item_delete,
            "conversation.item.truncate": self._on_item_truncate,
            "conversation.item.retrieve": self._on_item_retrieve,
            "input_audio_buffer.append": self._on_audio_append,
            "input_audio_buffer.clear": self._on_audio_clear,
            "input_audio_buffer.commit": self._on_audio_commit,
            "response.create": self._on_response_create,
            "response.cancel": self._on_response_cancel,
        }
        try:
            async for message in self._ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    event = json.loads(message.data)
                except ValueError:
                    await self.send_error("The message is not valid JSON.", code="invalid_json")
                    continue
                self.events.append(event)
                self._fake._record_client(self, event)
                handler = handlers.get(event.get("type"))
                try:
                    if handler is None:
                        raise ProtocolError(
                            f"Invalid value: '{event.get('type')}'.",
                            code="invalid_value",
                            param="type",
                        )
                    await handler(event)
                except ProtocolError as refusal:
                    await self.send_error(
                        refusal.message,
                        code=refusal.code,
                        param=refusal.param,
                        event_id=event.get("event_id"),
                    )
        finally:
            self.closed = True
            if self._active is not None:
                self._active.cancel("connection_closed")
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        await self._ws.close()

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- session ---

    async def _on_session_update(self, event: dict[str, Any]) -> None:
        update = event.get("session")
        if not isinstance(update, dict):
            raise ProtocolError(
                "Missing required parameter: 'session'.",
                code="missing_required_parameter",
                param="session",
            )
        if self.mode == "ga" and update.get("type") != "realtime":
            # The GA service insists on the session type; the preview one has no such field.
            raise ProtocolError(
                "Missing required parameter: 'session.type'.",
                code="missing_required_parameter",
                param="session.type",
            )
        self.session = _deep_merge(self.session, update)
        self._configure_vad()
        await self.send({"type": "session.updated", "session": self.session})

    # --- conversation items ---

    def _index_of(self, item_id: str) -> int | None:
        for index, item in enumerate(self.items):
            if item["id"] == item_id:
                return index
        return None

    def _tail_id(self) -> str | None:
        return self.items[-1]["id"] if self.items else None

    async def _add_item(self, item: dict[str, Any], previous_item_id: str | None = "$tail") -> None:
        """Insert into the conversation and announce it (`added`, then `done` on GA)."""
        if previous_item_id == "$tail":
            previous_item_id = self._tail_id()
            self.items.append(item)
        elif previous_item_id is None:
            self.items.insert(0, item)
        else:
            index = self._index_of(previous_item_id)
            assert index is not None
            self.items.insert(index + 1, item)
        snapshot = json.loads(json.dumps(item))
        await self.send(
            {
                "type": "conversation.item.added",
                "previous_item_id": previous_item_id,
                "item": snapshot,
            }
        )
        await self.send(
            {
                "type": "conversation.item.done",
                "previous_item_id": previous_item_id,
                "item": snapshot,
            }
        )

    async def _on_item_create(self, event: dict[str, Any]) -> None:
        item = dict(event.get("item") or {})
        if not item.get("type"):
            raise ProtocolError(
                "Missing required parameter: 'item.type'.",
                code="missing_required_parameter",
                param="item.type",
            )
        item.setdefault("id", _new_id("item"))
        if self._index_of(item["id"]) is not None:
            raise ProtocolError(
                f"Item with item_id '{item['id']}' already exists.",
                code="item_create_duplicate_item_id",
            )
        item.setdefault("object", "realtime.item")
        item.setdefault("status", "completed")
        previous = event.get("previous_item_id", "$tail")
        if previous == "root":
            previous = None
        elif previous is None:
            previous = "$tail"
        elif previous != "$tail" and self._index_of(previous) is None:
            raise ProtocolError(
                f"Error adding item: the previous item with id '{previous}' does not exist.",
                code="item_not_found",
                param="previous_item_id",
            )
        await self._add_item(item, previous)

    async def _on_item_delete(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        index = self._index_of(item_id) if item_id else None
        if index is None:
            raise ProtocolError(f"Item with item_id '{item_id}' not found.", code="item_not_found")
        del self.items[index]
        await self.send({"type": "conversation.item.deleted", "item_id": item_id})

    async def _on_item_retrieve(self, event: dict[str, Any]) -> None:
        index = self._index_of(event.get("item_id") or "")
        if index is None:
            raise ProtocolError(
                f"Item with item_id '{event.get('item_id')}' not found.", code="item_not_found"
            )
        await self.send({"type": "conversation.item.retrieved", "item": self.items[index]})

    async def _on_item_truncate(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        content_index = int(event.get("content_index") or 0)
        audio_end_ms = event.get("audio_end_ms")
        index = self._index_of(item_id) if item_id else None
        if index is None:
            raise ProtocolError(f"Item with item_id '{item_id}' not found.", code="item_not_found")
        item = self.items[index]
        if item.get("type") != "message" or item.get("role") != "assistant":
            raise ProtocolError("Only assistant messages can be truncated.", code="invalid_value")
        sent_ms = self._item_audio_ms.get(item_id, 0.0)
        if not isinstance(audio_end_ms, int) or audio_end_ms < 0 or audio_end_ms > sent_ms + 1:
            raise ProtocolError(
                f"Audio content of {sent_ms:.0f}ms is shorter than {audio_end_ms}ms.",
                code="invalid_value",
                param="audio_end_ms",
            )
        self._fake.truncations.append(Truncation(item_id, content_index, audio_end_ms, sent_ms))
        for part in item.get("content", []):
            if "transcript" in part:
                part["transcript"] = ""  # the service drops the transcript of a truncated item
        await self.send(
            {
                "type": "conversation.item.truncated",
                "item_id": item_id,
                "content_index": content_index,
                "audio_end_ms": audio_end_ms,
            }
        )

    # --- input audio ---

    async def _on_audio_append(self, event: dict[str, Any]) -> None:
        try:
            pcm = audio.from_base64(event.get("audio") or "")
        except ValueError:
            raise ProtocolError(
                "Invalid base64 audio.", code="invalid_value", param="audio"
            ) from None
        self._fake._received_pcm.append(pcm)
        self._buffer += pcm
        self._audio_clock_ms += audio.duration_ms(pcm)
        if self._vad is None:
            return
        for vad_event in self._vad.feed(pcm):
            await self._on_vad_event(vad_event)

    async def _on_audio_clear(self, event: dict[str, Any]) -> None:
        self._buffer = b""
        self._buffer_start_ms = self._audio_clock_ms
        if self._vad is not None:
            self._vad.reset()
        await self.send({"type": "input_audio_buffer.cleared"})

    async def _on_audio_commit(self, event: dict[str, Any]) -> None:
        if audio.duration_ms(self._buffer) < 100:
            raise ProtocolError(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of "
                f"audio, but buffer only has {audio.duration_ms(self._buffer):.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        item_id = _new_id("item")
        await self._commit_user_audio(item_id, self._buffer)
        await self._send_transcription(item_id)

    async def _on_vad_event(self, event: VadEvent) -> None:
        audio_ms = int(self._vad_offset_ms + event.audio_ms)
        settings = self._vad_settings
        assert settings is not None
        if event.kind == "speech_started":
            self._pending_user_item = _new_id("item")
            self._speech_start_ms = audio_ms
            await self.send(
                {
                    "type": "input_audio_buffer.speech_started",
                    "audio_start_ms": audio_ms,
                    "item_id": self._pending_user_item,
                }
            )
            if self._active is not None and settings.interrupt_response:
                # Azure's server VAD ends the reply the caller talks over.
                await self._cancel_active("turn_detected")
            return

        item_id = self._pending_user_item
        await self.send(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": audio_ms,
                "item_id": item_id,
            }
        )
        start = max(
            0, int((self._speech_start_ms - self._buffer_start_ms) * audio.WIRE_RATE / 1000) * 2
        )
        await self._commit_user_audio(item_id, self._buffer[start:])
        if settings.create_response and self._active is None:
            await self._start_response({}, trigger="server_vad", transcribe_item=item_id)
        else:
            await self._send_transcription(item_id)

    async def _commit_user_audio(self, item_id: str, pcm: bytes) -> None:
        previous = self._tail_id()
        self._fake.committed_audio.append(pcm)
        self._buffer = b""
        self._buffer_start_ms = self._audio_clock_ms
        await self.send(
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": previous,
                "item_id": item_id,
            }
        )
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        await self._add_item(item)

    async def _send_transcription(self, item_id: str) -> None:
        if self.transcription() is None:
            return
        transcript = self._fake.next_transcript_for(self)
        index = self._index_of(item_id)
        if index is not None:
            self.items[index]["content"][0]["transcript"] = transcript
        await self.send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": transcript,
                "usage": {"type": "duration", "seconds": 1},
            }
        )

    # --- responses ---

    async def _on_response_create(self, event: dict[str, Any]) -> None:
        request = event.get("response") or {}
        if self._active is not None:
            raise ProtocolError(
                f"Conversation already has an active response in progress: {self._active.record.id}. "
                "Wait until the response is finished before creating a new one.",
                code="conversation_already_has_active_response",
            )
        failure = self._fake._take_response_failure()
        if failure is not None:
            await self.send_error(
                failure.message,
                code=failure.code,
                type=failure.type,
                event_id=event.get("event_id"),
            )
            return
        await self._start_response(request, trigger="response.create")

    async def _on_response_cancel(self, event: dict[str, Any]) -> None:
        wanted = event.get("response_id")
        if self._active is None or (wanted and wanted != self._active.record.id):
            raise ProtocolError(
                "Cancellation failed: no active response found", code="response_cancel_not_active"
            )
        await self._cancel_active("client_cancelled")

    async def _cancel_active(self, reason: str) -> None:
        active = self._active
        if active is None:
            return
        active.cancel(reason)
        if active.task is not None:
            # `response.done` (cancelled) goes out before anything else is handled.
            await asyncio.shield(active.task)

    async def _start_response(
        self, request: dict[str, Any], *, trigger: str, transcribe_item: str | None = None
    ) -> None:
        metadata = request.get("metadata")
        record = ResponseRecord(
            id=_new_id("resp"),
            client_event_id=(metadata or {}).get("client_event_id"),
            instructions=request.get("instructions"),
            trigger=trigger,
            request=request,
        )
        self._fake.responses.append(record)
        active = _ActiveResponse(record)
        self._active = active
        scripted = self._fake.next_response_for(self, request)
        active.task = self._spawn(
            self._run_response(active, scripted, request, metadata, transcribe_item)
        )

    def _response_object(
        self, record: ResponseRecord, metadata: Any, usage: Any = None
    ) -> dict[str, Any]:
        return {
            "id": record.id,
            "object": "realtime.response",
            "status": record.status,
            "status_details": None,
            "output": record.output,
            "conversation_id": "conv_fake",
            "metadata": metadata,
            "usage": usage,
        }

    async def _run_response(
        self,
        active: _ActiveResponse,
        scripted: ScriptedResponse,
        request: dict[str, Any],
        metadata: Any,
        transcribe_item: str | None,
    ) -> None:
        record = active.record
        try:
            await self.send(
                {"type": "response.created", "response": self._response_object(record, metadata)}
            )
            if transcribe_item is not None:
                await self._send_transcription(transcribe_item)
            for output_index, output in enumerate(scripted.outputs):
                if active.cancelled.is_set():
                    break
                if isinstance(output, ToolCall):
                    await self._stream_tool_call(active, output, output_index)
                else:
                    await self._stream_message(
                        active, output, output_index, self.output_modalities(request)
                    )
            await self._finish_response(active, scripted.failure, metadata)
        finally:
            if self._active is active:
                self._active = None

    async def _finish_response(
        self, active: _ActiveResponse, failure: Fail | None, metadata: Any
    ) -> None:
        record = active.record
        response = self._response_object(record, metadata, usage=_USAGE)
        if active.cancelled.is_set():
            record.status, record.status_reason = "cancelled", active.cancel_reason
            response["status_details"] = {"type": "cancelled", "reason": active.cancel_reason}
        elif failure is not None:
            record.status, record.status_reason = "failed", failure.code
            response["status_details"] = {
                "type": "failed",
                "error": {"type": failure.type, "code": failure.code, "message": failure.message},
            }
        else:
            record.status = "completed"
        response["status"] = record.status
        await self.send({"type": "response.done", "response": response})

    async def _stream_tool_call(
        self, active: _ActiveResponse, call: ToolCall, output_index: int
    ) -> None:
        response_id = active.record.id
        arguments = call.arguments_json()
        item = {
            "id": _new_id("item"),
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "call_id": call.call_id or _new_id("call"),
            "name": call.name,
            "arguments": "",
        }
        where = {"response_id": response_id, "output_index": output_index}
        await self.send({"type": "response.output_item.added", **where, "item": dict(item)})
        await self._add_item(item)
        ids = {"item_id": item["id"], "call_id": item["call_id"]}
        step = max(1, -(-len(arguments) // 3))  # three deltas, like the recorded trace
        for start in range(0, len(arguments), step):
            await self.send(
                {
                    "type": "response.function_call_arguments.delta",
                    **where,
                    **ids,
                    "delta": arguments[start : start + step],
                }
            )
        await self.send(
            {
                "type": "response.function_call_arguments.done",
                **where,
                **ids,
                "name": call.name,
                "arguments": arguments,
            }
        )
        item.update(status="completed", arguments=arguments)
        active.record.output.append(dict(item))
        await self.send({"type": "response.output_item.done", **where, "item": dict(item)})

    async def _stream_message(
        self, active: _ActiveResponse, say: Say, output_index: int, modalities: list[str]
    ) -> None:
        response_id = active.record.id
        item = {
            "id": _new_id("item"),
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        where = {"response_id": response_id, "output_index": output_index}
        await self.send({"type": "response.output_item.added", **where, "item": dict(item)})
        await self._add_item(item)
        at = {**where, "item_id": item["id"], "content_index": 0}
        if "audio" in modalities:
            part = await self._stream_audio_part(active, say, at)
        else:
            part = await self._stream_text_part(active, say, at)
        item["content"] = [part]
        item["status"] = "incomplete" if active.cancelled.is_set() else "completed"
        active.record.output.append(json.loads(json.dumps(item)))
        await self.send(
            {"type": "response.output_item.done", **where, "item": json.loads(json.dumps(item))}
        )

    async def _stream_audio_part(
        self, active: _ActiveResponse, say: Say, at: dict[str, Any]
    ) -> dict[str, Any]:
        part_type = "audio"
        await self.send(
            {
                "type": "response.content_part.added",
                **at,
                "part": {"type": part_type, "transcript": ""},
            }
        )
        duration = (
            say.audio_ms
            if say.audio_ms is not None
            else self._fake.ms_per_char * max(len(say.text), 5)
        )
        pcm = (
            audio.tone(duration, frequency=say.frequency)
            if say.frequency
            else audio.silence(duration)
        )
        pieces = audio.chunks(pcm, say.chunk_ms)
        words = _spread_words(say.text, len(pieces))
        pace = self._fake.pace if say.pace is None else say.pace
        transcript = ""
        for piece, text in zip(pieces, words, strict=True):
            if active.cancelled.is_set():
                break
            if text:
                transcript += text
                await self.send(
                    {"type": "response.output_audio_transcript.delta", **at, "delta": text}
                )
            await self.send(
                {"type": "response.output_audio.delta", **at, "delta": audio.to_base64(piece)}
            )
            self._item_audio_ms[at["item_id"]] = self._item_audio_ms.get(
                at["item_id"], 0.0
            ) + audio.duration_ms(piece)
            if pace:
                await active.pause(audio.duration_ms(piece) / 1000 / pace)
        await self.send({"type": "response.output_audio.done", **at})
        await self.send(
            {"type": "response.output_audio_transcript.done", **at, "transcript": transcript}
        )
        part = {"type": part_type, "transcript": transcript}
        await self.send({"type": "response.content_part.done", **at, "part": part})
        return {"type": "output_audio" if self.mode == "ga" else "audio", "transcript": transcript}

    async def _stream_text_part(
        self, active: _ActiveResponse, say: Say, at: dict[str, Any]
    ) -> dict[str, Any]:
        await self.send(
            {"type": "response.content_part.added", **at, "part": {"type": "text", "text": ""}}
        )
        text = ""
        for word in _spread_words(say.text, len(say.text.split()) or 1):
            if active.cancelled.is_set():
                break
            text += word
            await self.send({"type": "response.output_text.delta", **at, "delta": word})
        await self.send({"type": "response.output_text.done", **at, "text": text})
        await self.send(
            {"type": "response.content_part.done", **at, "part": {"type": "text", "text": text}}
        )
        return {"type": "output_text" if self.mode == "ga" else "text", "text": text}


_USAGE = {
    "total_tokens": 20,
    "input_tokens": 10,
    "output_tokens": 10,
    "input_token_details": {"text_tokens": 10, "audio_tokens": 0, "cached_tokens": 0},
    "output_token_details": {"text_tokens": 5, "audio_tokens": 5},
}


def _spread_words(text: str, slots: int) -> list[str]:
    """Distribute the words of `text` (with their spaces) over `slots` transcript deltas."""
    words = [w + " " for w in text.split(" ")]
    if words:
        words[-1] = words[-1][:-1]
    spread = [""] * max(slots, 1)
    for index, word in enumerate(words):
        spread[min(index * len(spread) // max(len(words), 1), len(spread) - 1)] += word
    return spread


class FakeAzureRealtime:
    """A local Azure OpenAI Realtime service. Use `async with`; see the package docstring."""

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        deployment: str | None = None,
        pace: float | None = None,
        ms_per_char: float = 40.0,
        script: Script | None = None,
    ) -> None:
        self.api_key = api_key
        self.deployment = deployment  # None: any deployment name is served
        # Reply audio per wall-clock second (1.0 = real time, 2.0 = twice as fast as it plays,
        # like the real service); None sends a reply at once. `Say(pace=...)` overrides it.
        self.pace = pace
        self.ms_per_char = ms_per_char  # reply audio length per character of text
        self.script = script or Script()
        self.connections: list[Connection] = []
        self.rejections: list[Rejection] = []
        self.client_events: list[dict[str, Any]] = []
        self.server_events: list[dict[str, Any]] = []
        self.responses: list[ResponseRecord] = []
        self.truncations: list[Truncation] = []
        self.committed_audio: list[bytes] = []  # PCM of each committed user audio item
        self._received_pcm: list[bytes] = []
        self._response_failures: list[Fail] = []
        self._connection_rejections: list[tuple[int, str]] = []
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # --- lifecycle ---

    async def start(self) -> FakeAzureRealtime:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def aclose(self) -> None:
        for connection in self.connections:
            with contextlib.suppress(Exception):
                await connection.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeAzureRealtime:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def endpoint(self) -> str:
        """What goes into AZURE_OPENAI_ENDPOINT: `http://127.0.0.1:PORT`."""
        assert self.port is not None, "the fake is not started"
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, *, deployment: str = "gpt-realtime", api_version: str | None = None) -> str:
        """The URL a client would open: GA form, or legacy form when `api_version` is given."""
        base = self.endpoint.replace("http://", "ws://")
        if api_version is None:
            return f"{base}{GA_PATH}?model={deployment}"
        return f"{base}{LEGACY_PATH}?api-version={api_version}&deployment={deployment}"

    # --- faults on demand ---

    def fail_next_response(
        self,
        *,
        code: str = "server_error",
        message: str = "The server had an error.",
        type: str = "server_error",
    ) -> None:
        """Answer the next `response.create` with an `error` event (its event_id echoed), no response."""
        self._response_failures.append(Fail(code, message, type))

    def reject_next_connection(
        self, status: int = 503, message: str = "Service unavailable"
    ) -> None:
        """Refuse the next WebSocket upgrade with this HTTP status."""
        self._connection_rejections.append((status, message))

    async def send_error(
        self, *, code: str, message: str, type: str = "invalid_request_error"
    ) -> None:
        """Push an unsolicited `error` event on the latest connection."""
        await self.connection.send_error(message, code=code, type=type)

    async def drop_connection(self) -> None:
        """Close the latest socket from the server side (the client should reconnect)."""
        await self.connection.close()

    def next_response_for(self, connection: Connection, request: dict[str, Any]) -> ScriptedResponse:
        """What to answer a response request on `connection`: the script's next response.

        A subclass may decide per connection instead (e.g. several agent sessions at once)."""
        return self.script.next_response()

    def next_transcript_for(self, connection: Connection) -> str:
        """The transcript of a committed spoken turn on `connection` (see next_response_for)."""
        return self.script.next_transcript()

    def _take_response_failure(self) -> Fail | None:
        return self._response_failures.pop(0) if self._response_failures else None

    # --- inspection ---

    @property
    def connection(self) -> Connection:
        """The latest accepted connection."""
        assert self.connections, "no client has connected to the fake"
        return self.connections[-1]

    @property
    def session(self) -> dict[str, Any]:
        """The merged session state of the latest connection."""
        return self.connection.session

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        """Client events received (parsed JSON), in order, over all connections."""
        return [e for e in self.client_events if type is None or e.get("type") == type]

    def sent(self, type: str | None = None) -> list[dict[str, Any]]:
        """Server events the fake sent, in order, with their on-the-wire type names."""
        return [e for e in self.server_events if type is None or e.get("type") == type]

    def received_pcm(self) -> bytes:
        """All `input_audio_buffer.append` audio, decoded: 24 kHz mono PCM16."""
        return b"".join(self._received_pcm)

    def received_audio_ms(self) -> float:
        return audio.duration_ms(self.received_pcm())

    async def wait_for(
        self,
        type: str,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 (a test helper's deadline)
        count: int = 1,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """Wait until `count` client events of `type` (matching `where`) arrived; return the last."""
        return await self._wait(self.client_events, "client", type, timeout, count, where)

    async def wait_for_sent(
        self,
        type: str,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 (a test helper's deadline)
        count: int = 1,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """Like `wait_for`, for events the fake sent."""
        return await self._wait(self.server_events, "server", type, timeout, count, where)

    async def wait_connected(self, timeout: float = 5.0) -> Connection:  # noqa: ASYNC109 (a test helper's deadline)
        await self.wait_for_sent("session.created", timeout=timeout)
        return self.connection

    async def _wait(
        self,
        events: list[dict[str, Any]],
        side: str,
        type: str,
        timeout: float,  # noqa: ASYNC109 (a test helper's deadline)
        count: int,
        where: Callable[[dict[str, Any]], bool] | None,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in events if e.get("type") == type and (where is None or where(e))]
            if len(found) >= count:
                return found[count - 1]
            remaining = deadline - time.monotonic()
            changed = self._changed
            try:
                if remaining <= 0:
                    raise TimeoutError
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                seen = [e.get("type") for e in events][-30:]
                raise AssertionError(
                    f"{side} event {type!r} x{count} not seen within {timeout}s; "
                    f"{len(found)} matched; last {side} events: {seen}"
                ) from None

    # --- recording (called by connections) ---

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _record_client(self, connection: Connection, event: dict[str, Any]) -> None:
        self.client_events.append(event)
        self._notify()

    def _record_server(self, connection: Connection, event: dict[str, Any]) -> None:
        self.server_events.append(event)
        self._notify()

    # --- HTTP ---

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        mode = {GA_PATH: "ga", LEGACY_PATH: "legacy"}.get(request.path)
        if mode is None:
            return self._reject(request, 404, "Resource not found")
        if not self._authorized(request):
            return self._reject(
                request,
                401,
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
                "provide a valid key for an active subscription and use a correct regional API "
                "endpoint for your resource.",
            )
        deployment = request.query.get("model") if mode == "ga" else request.query.get("deployment")
        if mode == "legacy" and not request.query.get("api-version"):
            return self._reject(request, 400, "Missing required query parameter: api-version")
        if not deployment:
            missing = "model" if mode == "ga" else "deployment"
            return self._reject(request, 400, f"Missing required query parameter: {missing}")
        if self.deployment is not None and deployment != self.deployment:
            return self._reject(
                request, 404, "The API deployment for this resource does not exist."
            )
        if self._connection_rejections:
            status, message = self._connection_rejections.pop(0)
            return self._reject(request, status, message)
        if not web.WebSocketResponse().can_prepare(request).ok:
            return self._reject(request, 400, "Expected a WebSocket upgrade")

        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        connection = Connection(self, request, ws, mode)
        self.connections.append(connection)
        await connection.serve()
        return ws

    def _authorized(self, request: web.Request) -> bool:
        if request.headers.get("api-key") == self.api_key:
            return True
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    def _reject(self, request: web.Request, status: int, message: str) -> web.Response:
        self.rejections.append(Rejection(status, request.path, message))
        body = {"error": {"code": str(status), "message": message}}
        return web.json_response(body, status=status)
