"""What the room-level tests share: the model's "brain", callers, the desk, tokens, the store.

Every import of the product (`support_tools`) used by the room tests is in this module.

The fake Azure service (`tests/fake_azure/`) serves every job process of the one worker; with
several calls at once a shared queue of scripted answers would mix them up, so `RoomBrain`
answers each connection from what that connection's own conversation holds:
- a typed `call <tool> <json arguments>` from the caller -> that function call;
- a spoken turn (input audio) -> SPOKEN_ANSWER;
- a tool's output -> a sentence built from it (order number and status, ticket, error);
- the greeting, hand-off sentences and the callback offer -> from the response instructions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import numpy as np
from aiohttp import web
from livekit import api, rtc
from sqlalchemy import select

from support_tools.domain.caller import CallerState
from support_tools.domain.rules import ShopRules
from support_tools.domain.service import SupportService
from support_tools.escalation import verify_signature
from support_tools.escalation.join_token import mint_join_token
from support_tools.store.database import Store
from support_tools.store.models import (
    ConversationRecord,
    Customer,
    Order,
    OrderItem,
    Return,
    Ticket,
)
from support_tools.voice.order_card import ORDER_CARD_TOPIC, build_order_card
from tests.fake_azure import FakeAzureRealtime, Say, ScriptedResponse, ToolCall
from tests.fake_azure import audio as pcm
from tests.fake_azure.fixtures import wait_until
from tests.fake_azure.server import Connection
from tests.livekit_server import LiveKitServerDouble
from tests.loopback import serve_on_loopback

AUDIO = Path(__file__).resolve().parents[1] / "audio_fixtures"
AGENT_NAME = "shopme-support"
TRANSCRIPTION_TOPIC = "lk.transcription"
CHAT_TOPIC = "lk.chat"
GREETING = "Hello, ShopMe support here. How can I help?"
SPOKEN_ANSWER = "I heard your question about an order."
CALLBACK_OFFER = "Nobody is free right now; your ticket stays open. Shall I book a callback?"
WEBHOOK_SECRET = "whsec-room-" + "r" * 24
TRANSFER_TO = "tel:+918040001234"
ESCALATION_TIMEOUT_S = 8
PRIYA_ORDER, PRIYA_PIN = "482913", "560001"  # shipped; the README's ready-to-try customer
OTHER_ORDER = "300125"  # another customer's order (PIN 110001)
_SAY_THIS = "Say this to the caller, in the caller's language:"
_CALL = re.compile(r"^call (?P<name>\w+)\s*(?P<args>\{.*\})?\s*$", re.S)


# --- the model ------------------------------------------------------------------------------------


class RoomBrain(FakeAzureRealtime):
    """The fake Azure service, answering each agent session from its own conversation."""

    def __init__(self) -> None:
        super().__init__(api_key="test-key", ms_per_char=12.0)

    def next_response_for(self, connection: Connection, request: dict[str, Any]) -> ScriptedResponse:
        return ScriptedResponse((self._decide(connection, request),))

    def next_transcript_for(self, connection: Connection) -> str:
        return "where is my order"

    def _decide(self, connection: Connection, request: dict[str, Any]) -> Say | ToolCall:
        # A reply's instructions arrive after the session's own (the system prompt).
        instructions = str(request.get("instructions") or "")
        if "offer to book a callback" in instructions:
            return Say(CALLBACK_OFFER)
        if _SAY_THIS in instructions:
            return Say(instructions.split(_SAY_THIS, 1)[1].strip())
        if "Greet the caller once" in instructions:
            return Say(GREETING)
        last = connection.items[-1] if connection.items else {}
        if last.get("type") == "function_call_output":
            return Say(self._about_output(connection, last))
        if last.get("type") == "message" and last.get("role") == "user":
            content = (last.get("content") or [{}])[0]
            if content.get("type") == "input_audio":
                return Say(SPOKEN_ANSWER)
            match = _CALL.match(str(content.get("text") or "").strip())
            if match:
                return ToolCall(match["name"], json.loads(match["args"] or "{}"))
        return Say("Is there anything else?")

    @staticmethod
    def _about_output(connection: Connection, output_item: dict[str, Any]) -> str:
        calls = [
            i for i in connection.items
            if i.get("type") == "function_call" and i.get("call_id") == output_item.get("call_id")
        ]
        name = calls[-1]["name"] if calls else "tool"
        try:
            output = json.loads(output_item.get("output") or "")
        except ValueError:
            output = None
        if not isinstance(output, dict):
            return f"Sorry, {name} did not work."
        if name == "get_order_status" and "order_number" in output:
            return f"Order {output['order_number']} is {output.get('status')}."
        if name == "escalate_to_human" and "ticket" in output:
            return f"Your ticket is {output['ticket']}."
        return f"{name} is done."

    def connection_with_text(self, text: str) -> Connection:
        """The agent session (model connection) in which the caller typed `text`."""
        for connection in self.connections:
            for item in connection.items:
                for part in item.get("content") or []:
                    if part.get("type") == "input_text" and part.get("text") == text:
                        return connection
        raise AssertionError(f"no model connection received {text!r}")

    def tool_outputs(self, connection: Connection, name: str) -> list[str]:
        call_ids = {
            i["call_id"] for i in connection.items
            if i.get("type") == "function_call" and i.get("name") == name
        }
        return [
            i.get("output") or "" for i in connection.items
            if i.get("type") == "function_call_output" and i.get("call_id") in call_ids
        ]


# --- tokens ------------------------------------------------------------------------------------------


def caller_token(
    lk: LiveKitServerDouble,
    identity: str,
    room: str,
    *,
    customer_id: str | None = None,
    kind: str | None = None,
    dispatch: bool = True,
) -> str:
    """A token as the shop's backend issues it: room join, agent dispatch for AGENT_NAME, and
    never `canUpdateOwnMetadata` (no caller can claim the human-agent role)."""
    token = (
        api.AccessToken(lk.api_key, lk.api_secret)
        .with_identity(identity)
        .with_name(identity)
        .with_grants(api.VideoGrants(room_join=True, room=room, can_update_own_metadata=False))
    )
    if customer_id is not None:
        token = token.with_attributes({"customer_id": customer_id})
    if kind is not None:
        token = token.with_kind(kind)  # type: ignore[arg-type]
    if dispatch:
        token = token.with_room_config(
            api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name=AGENT_NAME)])
        )
    return token.to_jwt()


def token_for_another_room(lk: LiveKitServerDouble, ticket: str, room: str) -> str:
    """A well-signed desk token for this ticket, but scoped to `room`."""
    return mint_join_token(lk.api_key, lk.api_secret, room, ticket, timedelta(minutes=15))


def expired_copy(lk: LiveKitServerDouble, token: str) -> str:
    """`token` with the same claims, expired ten minutes ago (signed with the right secret)."""
    claims = jwt.decode(token, lk.api_secret, algorithms=["HS256"])
    claims["exp"] = int(time.time()) - 600
    return jwt.encode(claims, lk.api_secret, algorithm="HS256")


def badly_signed_copy(token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, "not-the-secret-" + "x" * 32, algorithm="HS256")


def room_url(lk: LiveKitServerDouble, room: str) -> str:
    """The URL a desk client opens for a room: the server URL naming the room it expects."""
    return f"{lk.url}/?room={room}"


# --- a caller --------------------------------------------------------------------------------------


@dataclass
class Transcript:
    sender: str
    text: str
    attributes: dict[str, str]
    complete: bool = False


@dataclass
class Heard:
    at: float
    rms: float
    sender: str


@dataclass
class Caller:
    """A `livekit.rtc.Room` client as the shop's app would be: hears, reads, types, speaks."""

    identity: str
    room: rtc.Room = field(default_factory=rtc.Room)
    transcripts: list[Transcript] = field(default_factory=list)
    cards: list[dict[str, Any]] = field(default_factory=list)
    heard: list[Heard] = field(default_factory=list)
    joined_at: float = 0.0
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _mic: rtc.AudioSource | None = None
    _speech: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    speech_ended_at: float | None = None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def join(self, url: str, token: str) -> Caller:
        self.room.register_text_stream_handler(TRANSCRIPTION_TOPIC, self._on_transcript)
        self.room.register_text_stream_handler(ORDER_CARD_TOPIC, self._on_card)
        self.room.on("track_subscribed", self._on_track)
        self.joined_at = time.monotonic()
        await self.room.connect(url, token)
        return self

    def _on_transcript(self, reader: rtc.TextStreamReader, sender: str) -> None:
        # Kept as it streams in, as an app shows it: a stream cut short (the sender left the
        # room before its trailer) still shows what arrived.
        entry = Transcript(sender, "", dict(reader.info.attributes or {}))
        self.transcripts.append(entry)

        async def read() -> None:
            try:
                async for chunk in reader:
                    entry.text += chunk
                entry.complete = True
            except rtc.StreamError:
                pass

        self._spawn(read())

    def _on_card(self, reader: rtc.TextStreamReader, sender: str) -> None:
        async def read() -> None:
            self.cards.append(json.loads(await reader.read_all()))

        self._spawn(read())

    def _on_track(self, track: rtc.Track, _pub: Any, participant: rtc.RemoteParticipant) -> None:
        if track.kind != rtc.TrackKind.KIND_AUDIO:
            return

        async def listen() -> None:
            stream = rtc.AudioStream(track, sample_rate=48000, num_channels=1)
            async for event in stream:
                samples = np.frombuffer(event.frame.data, dtype=np.int16).astype(np.float64)
                level = float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0
                self.heard.append(Heard(time.monotonic(), level, participant.identity))

        self._spawn(listen())

    # what the caller sees and hears

    def said_by(self, identity: str | None = None) -> list[str]:
        """Final transcripts of what others said, in order (optionally one sender's only)."""
        return [t.text for t in self.transcripts if identity in (None, t.sender)]

    def voiced(self, since: float = 0.0, min_rms: float = 300.0) -> list[Heard]:
        return [h for h in self.heard if h.at >= since and h.rms >= min_rms]

    def agents(self) -> list[rtc.RemoteParticipant]:
        return [
            p for p in self.room.remote_participants.values()
            if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
        ]

    # what the caller does

    async def type(self, text: str) -> None:
        await self.room.local_participant.send_text(text, topic=CHAT_TOPIC)

    async def open_microphone(self) -> None:
        """Publish a 48 kHz microphone that sends silence until `speak` queues speech."""
        # A short queue: capture_frame returns about when the frame leaves (speech_ended_at).
        self._mic = rtc.AudioSource(48000, 1, queue_size_ms=50)
        track = rtc.LocalAudioTrack.create_audio_track("microphone", self._mic)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await self.room.local_participant.publish_track(track, options)
        self._spawn(self._feed())

    async def speak(self, pcm16: bytes, rate: int) -> None:
        """Queue speech (PCM16 mono at `rate`) at 48 kHz; silence follows it."""
        await self._speech.put(pcm.resample(pcm16, rate, 48000))

    async def _feed(self) -> None:
        frame_bytes = 480 * 2  # 10 ms at 48 kHz
        pending = b""
        while self._mic is not None:
            if not pending and not self._speech.empty():
                pending = self._speech.get_nowait()
            if pending:
                chunk, pending = pending[:frame_bytes], pending[frame_bytes:]
                chunk = chunk.ljust(frame_bytes, b"\0")
                if not pending:
                    self.speech_ended_at = time.monotonic()
            else:
                chunk = bytes(frame_bytes)
            await self._mic.capture_frame(rtc.AudioFrame(chunk, 48000, 1, 480))

    async def hang_up(self) -> None:
        self._mic = None
        await self.room.disconnect()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def in_room(url: str, token: str, identity: str) -> AsyncIterator[Caller]:
    caller = Caller(identity)
    await caller.join(url, token)
    try:
        yield caller
    finally:
        await caller.hang_up()


def recording(name: str = "where_is_my_order.wav") -> tuple[bytes, int]:
    return pcm.read_wav(AUDIO / name)


# --- the support desk ----------------------------------------------------------------------------------


@dataclass
class Desk:
    """The support desk's webhook receiver on 127.0.0.1; keeps every verified ticket payload."""

    payloads: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> Desk:
        app = web.Application()
        app.router.add_post("/hooks/escalations", self._receive)
        self._runner, port = await serve_on_loopback(app)
        self.url = f"http://127.0.0.1:{port}/hooks/escalations"
        return self

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify_signature(body, request.headers.get("X-ShopMe-Signature"), WEBHOOK_SECRET):
            self.refused += 1
            return web.Response(status=401)
        self.payloads.append(json.loads(body))
        return web.json_response({"ok": True})

    async def ticket_for(self, room: str, timeout: float = 20.0) -> dict[str, Any]:  # noqa: ASYNC109
        def arrived() -> bool:
            return any(p.get("room") == room for p in self.payloads)

        await wait_until(arrived, timeout=timeout, what=f"the desk to be told about {room}")
        return next(p for p in self.payloads if p.get("room") == room)


# --- the worker's configuration and its store ------------------------------------------------------------


def worker_env(brain: RoomBrain, database_url: str, desk: Desk) -> dict[str, str]:
    return {
        "AZURE_OPENAI_ENDPOINT": brain.endpoint,
        "AZURE_OPENAI_API_KEY": brain.api_key,
        "AZURE_OPENAI_DEPLOYMENT": "gpt-realtime",
        "AGENT_NAME": AGENT_NAME,
        "DATABASE_URL": database_url,
        "ESCALATION_WEBHOOK_URL": desk.url,
        "ESCALATION_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ESCALATION_TIMEOUT_S": str(ESCALATION_TIMEOUT_S),
        "ESCALATION_SIP_TRANSFER_TO": TRANSFER_TO,
        "SHOPME_ENV_FILE": str(AUDIO.parent / "no-such.env"),
        "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE": "0",
    }


class StoreView:
    """Reads the worker's store: records, tickets, customers, and the expected order card."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @classmethod
    async def open(cls, url: str) -> StoreView:
        return cls(await Store.open(url, migrate=False))

    async def aclose(self) -> None:
        await self.store.close()

    async def _all(self, statement: Any) -> list[Any]:
        async with self.store.session() as session:
            return list((await session.execute(statement)).scalars().all())

    async def records(self, session_id: str) -> list[ConversationRecord]:
        return await self._all(
            select(ConversationRecord).where(ConversationRecord.session_id == session_id)
        )

    async def ticket(self, number: str) -> Ticket:
        return (await self._all(select(Ticket).where(Ticket.number == number)))[0]

    async def customer_id_of(self, order_number: str) -> str:
        statement = (
            select(Customer.public_id)
            .join(Order, Order.customer_id == Customer.id)
            .where(Order.number == order_number)
        )
        return (await self._all(statement))[0]

    async def items_of(self, order_number: str) -> list[OrderItem]:
        return await self._all(
            select(OrderItem).join(Order, OrderItem.order_id == Order.id).where(Order.number == order_number)
        )

    async def returns_of(self, order_number: str) -> list[Return]:
        return await self._all(
            select(Return)
            .join(OrderItem, Return.order_item_id == OrderItem.id)
            .join(Order, OrderItem.order_id == Order.id)
            .where(Order.number == order_number)
        )

    async def order_card(self, order_number: str) -> dict[str, Any]:
        """The card the store's answer makes, computed here the way the tool does."""
        service = SupportService(self.store, ShopRules())
        caller = CallerState(session_id="expected-card")
        await service.trust_customer(caller, await self.customer_id_of(order_number))
        return build_order_card(await service.get_order_status(caller, order_number))
