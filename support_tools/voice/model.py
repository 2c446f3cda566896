"""The Azure OpenAI realtime model, built from settings."""

from __future__ import annotations

import aiohttp
from livekit.plugins import openai

from ..settings import Settings


def build_realtime_model(
    settings: Settings, *, http_session: aiohttp.ClientSession | None = None
) -> openai.realtime.RealtimeModel:
    """Speech-to-speech model on the GA realtime path (`/openai/v1/realtime?model=<deployment>`).

    Server-side turn detection stays on (the plugin's Azure defaults): the caller can interrupt
    the agent, and no local VAD model has to be loaded into every job process.
    """
    return openai.realtime.RealtimeModel.with_azure(
        azure_deployment=settings.azure_deployment,
        azure_endpoint=settings.azure_endpoint,
        api_key=settings.azure_api_key,
        voice=settings.voice,
        http_session=http_session,
    )
