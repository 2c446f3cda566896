"""pytest fixtures and helpers to run the project's real agent against the fake Azure service.

The fixtures are `fake_azure` (a started FakeAzureRealtime, api key "test-key") and
`http_session` (an aiohttp session for the model). Make them visible to a test module with

    from tests.fake_azure import fixtures
    fake_azure = fixtures.fake_azure
    http_session = fixtures.http_session

(or for all tests: `pytest_plugins = ["tests.fake_azure.fixtures"]` in tests/conftest.py).

`agent_session(fake, ...)` builds the worker's pieces exactly as `agent.py` does —
`load_settings(env)`, `build_realtime_model(settings, http_session=...)`,
`AgentSession[Userdata](llm=model, userdata=...)`, `SupportAgent(settings)` — with a room-less
session and, for spoken tests, a `ScriptedMicrophone` / `SimulatedSpeaker` (session_io.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from livekit.agents import Agent, AgentSession

from support_tools.domain.caller import CallerState
from support_tools.settings import Settings, load_settings
from support_tools.voice.agent import SupportAgent
from support_tools.voice.history_window import HistoryWindow, keep_history_bounded
from support_tools.voice.model import build_realtime_model
from support_tools.voice.recorder import attach_recorder
from support_tools.voice.session import Userdata

from .server import FakeAzureRealtime
from .session_io import ScriptedMicrophone, SimulatedSpeaker

AZURE_KEY = "test-key"
DEPLOYMENT = "gpt-realtime"


def azure_env(fake: FakeAzureRealtime, **extra: str) -> dict[str, str]:
    """Settings environment pointing the agent at the fake (GA wire: no OPENAI_API_VERSION)."""
    return {
        "AZURE_OPENAI_ENDPOINT": fake.endpoint,
        "AZURE_OPENAI_API_KEY": fake.api_key,
        "AZURE_OPENAI_DEPLOYMENT": DEPLOYMENT,
        **extra,
    }


async def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float = 5.0,  # noqa: ASYNC109 (a test helper's deadline)
    what: str = "condition",
) -> None:
    """Poll `condition` every 10 ms; fail the test with `what` if it stays false for `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
async def fake_azure(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeAzureRealtime]:
    """A started fake on 127.0.0.1 with api key `test-key`; the legacy-wire switch is unset."""
    monkeypatch.delenv("OPENAI_API_VERSION", raising=False)
    async with FakeAzureRealtime(api_key=AZURE_KEY) as fake:
        yield fake


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@dataclass
class StubSupportService:
    """Stands in for `SupportService` behind the tools: canned answers, calls recorded."""

    orders: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "482913": {"order_number": "482913", "status": "shipped", "carrier": "BlueDart"}
        }
    )
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    async def get_order_status(self, caller: CallerState, order_number: str) -> dict[str, Any]:
        self.calls.append(("get_order_status", (order_number,)))
        return self.orders[order_number]


@dataclass
class AgentRun:
    """A started session and everything a test inspects around it."""

    session: AgentSession
    agent: Agent
    settings: Settings
    service: Any  # StubSupportService, or a real SupportService
    microphone: ScriptedMicrophone | None
    speaker: SimulatedSpeaker | None
    state: Userdata
    window: HistoryWindow | None = None  # the client-side history bound, as the worker has it
    start_result: Any = None  # the RunResult of `session.start` when `capture_run=True`
    transcripts: list[str] = field(default_factory=list)  # final user transcripts, in order
    items: list[Any] = field(default_factory=list)  # conversation items added, from the start

    def messages(self, role: str | None = None) -> list[Any]:
        return [i for i in self.items if i.type == "message" and role in (None, i.role)]


@contextlib.asynccontextmanager
async def agent_session(
    fake: FakeAzureRealtime,
    http: aiohttp.ClientSession,
    *,
    env: Mapping[str, str] | None = None,
    spoken: bool = False,
    capture_run: bool = False,
    service: Any = None,
    caller: CallerState | None = None,
    **session_options: Any,
) -> AsyncIterator[AgentRun]:
    """Start the project's SupportAgent on the fake; close session and model on exit.

    `spoken=True` attaches a `ScriptedMicrophone` and a `SimulatedSpeaker` and turns the AEC
    warm-up off (it would mute the caller while the agent starts speaking). Without it, the
    session has no audio I/O: replies arrive as transcripts only.
    """
    settings = load_settings(env or azure_env(fake))
    service = service if service is not None else StubSupportService()
    state = Userdata(
        settings=settings, service=service, caller=caller or CallerState(session_id="test-session")
    )  # type: ignore[arg-type]
    model = build_realtime_model(settings, http_session=http)
    if spoken:
        session_options.setdefault("aec_warmup_duration", None)
    session = AgentSession[Userdata](llm=model, userdata=state, **session_options)
    attach_recorder(session, state)  # as the worker does: every session keeps its transcript
    window = keep_history_bounded(session, settings.history_items)  # and a bounded history
    microphone = speaker = None
    if spoken:
        microphone, speaker = ScriptedMicrophone(), SimulatedSpeaker()
        session.input.audio = microphone
        session.output.audio = speaker
    agent = SupportAgent(settings)
    run = AgentRun(session, agent, settings, service, microphone, speaker, state, window=window)
    session.on("conversation_item_added", lambda ev: run.items.append(ev.item))
    session.on(
        "user_input_transcribed", lambda ev: ev.is_final and run.transcripts.append(ev.transcript)
    )
    try:
        run.start_result = await session.start(agent=agent, record=False, capture_run=capture_run)
        yield run
    finally:
        if microphone is not None:
            microphone.close()
        await session.aclose()
        await model.aclose()
