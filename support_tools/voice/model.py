"""The Azure OpenAI realtime model, built from settings, with two things the plugin lacks:

- the raw arguments of every tool call, kept per call id before the framework repairs them
  (tools/_strict.py refuses anything that is not one complete JSON object), and
- region failover (model_failover.py): a second Azure endpoint when the first is down, and a
  clean end of the call when no region is left.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from livekit.agents import APIConnectOptions
from livekit.plugins import openai

from ..settings import Settings
from .model_failover import FailoverRealtimeSession, Region
from .tool_arguments import is_one_json_object

KEPT_CALLS = 256  # a conversation's recent tool calls; older ones have long been run


class RawToolArguments:
    """What the model sent as each tool call's arguments, by call id, exactly as received."""

    def __init__(self) -> None:
        self._by_call: OrderedDict[str, str] = OrderedDict()

    def get(self, call_id: str) -> str | None:
        return self._by_call.get(call_id)

    def on_server_event(self, event: dict[str, Any]) -> None:
        """Called for each server event before the plugin handles it (public session event)."""
        if event.get("type") != "response.output_item.done":
            return
        item = event.get("item")
        if not isinstance(item, dict) or item.get("type") != "function_call":
            return
        call_id, raw = item.get("call_id"), item.get("arguments")
        if not isinstance(call_id, str):
            return
        self._by_call[call_id] = raw if isinstance(raw, str) else ""
        while len(self._by_call) > KEPT_CALLS:
            self._by_call.popitem(last=False)
        if not is_one_json_object(raw):
            # Hand the framework an empty object instead, so it has nothing to "repair" into a
            # plausible call; the tool refuses the call from the raw text kept above.
            item["arguments"] = "{}"


OutageHandler = Callable[[Exception], Awaitable[None]]


class ShopMeRealtimeModel(openai.realtime.RealtimeModel):
    """`openai.realtime.RealtimeModel` whose sessions fail over between regions."""

    regions: list[Region]
    raw_tool_arguments: RawToolArguments
    # Run when no region is left, before the session is told the model is gone for good.
    on_outage: OutageHandler | None

    def session(self, *, turn_detection_disabled: bool = False) -> FailoverRealtimeSession:
        session = FailoverRealtimeSession(self, turn_detection_disabled=turn_detection_disabled)
        self._sessions.add(session)
        session.on("openai_server_event_received", with_known_signature(self.raw_tool_arguments.on_server_event))
        return session


ServerEventListener = Callable[[dict[str, Any]], None]


def with_known_signature(listener: ServerEventListener) -> ServerEventListener:
    """`listener` as a function that carries its signature.

    livekit's EventEmitter looks up each listener's signature on every emit, and the plugin emits
    every server event: some 15 to 60 a second while the agent speaks (one per audio delta). For
    a bound method that lookup costs about 10 µs; a function's `__signature__` is read as is.
    """

    def on_event(event: dict[str, Any]) -> None:
        listener(event)

    on_event.__signature__ = inspect.signature(on_event)  # type: ignore[attr-defined]
    return on_event


def regions_from_settings(settings: Settings) -> list[Region]:
    primary = Region("primary", settings.azure_endpoint, settings.azure_deployment, settings.azure_api_key)
    if not settings.azure_fallback_endpoint:
        return [primary]
    fallback = Region(
        "fallback",
        settings.azure_fallback_endpoint,
        settings.azure_fallback_deployment or settings.azure_deployment,
        settings.azure_fallback_api_key or settings.azure_api_key,
    )
    return [primary, fallback]


def build_realtime_model(
    settings: Settings,
    *,
    http_session: aiohttp.ClientSession | None = None,
    conn_options: APIConnectOptions | None = None,
) -> ShopMeRealtimeModel:
    """Speech-to-speech model on the GA realtime path (`/openai/v1/realtime?model=<deployment>`).

    Server-side turn detection stays on (the plugin's Azure defaults): the caller can interrupt
    the agent, and no local VAD model has to be loaded into every job process. `conn_options`
    (tests) changes the plugin's reconnect attempts and their spacing.
    """
    model = ShopMeRealtimeModel.with_azure(
        azure_deployment=settings.azure_deployment,
        azure_endpoint=settings.azure_endpoint,
        api_key=settings.azure_api_key,
        voice=settings.voice,
        http_session=http_session,
    )
    assert isinstance(model, ShopMeRealtimeModel)
    model.regions = regions_from_settings(settings)
    model.raw_tool_arguments = RawToolArguments()
    model.on_outage = None
    if conn_options is not None:
        model._opts.conn_options = conn_options
    return model
