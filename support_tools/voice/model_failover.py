"""Region failover for the realtime model's connection.

The plugin reconnects by itself: when the socket drops it opens a new one (`_create_ws_conn`)
and replays the conversation so far into it, up to `conn_options.max_retry` times. This session
makes each of those connection attempts try the configured regions in turn, so a session whose
primary region goes down goes on in the fallback region with the same conversation; a region
that failed in the last minute is tried last by every new attempt in this process. When the
plugin gives up, the model's `on_outage` handler runs first (apology, callback ticket, record
outcome: model_outage.py), then the session is told, and it ends.

This reaches into two hooks of livekit-agents' OpenAI realtime session, `_create_ws_conn` and
`_emit_error` (livekit-agents ~=1.8.9, pinned in pyproject.toml); tests/test_model_failover.py
fails if they change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from livekit.agents import APIConnectionError, APIError
from livekit.plugins import openai

from .history_window import WindowedRealtimeSession

if TYPE_CHECKING:
    import aiohttp

logger = logging.getLogger("shopme.model")

SKIP_FAILED_REGION_S = 60.0
# When the region failed, by (endpoint, deployment): shared by every session of this process.
_failed_at: dict[tuple[str, str], float] = {}


@dataclass(frozen=True)
class Region:
    name: str  # "primary" or "fallback": the only thing logged (endpoints may carry secrets)
    endpoint: str
    deployment: str
    api_key: str = field(repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.endpoint, self.deployment)

    @property
    def base_url(self) -> str:
        return f"{self.endpoint.rstrip('/')}/openai"


def mark_failed(region: Region, now: float | None = None) -> None:
    _failed_at[region.key] = time.monotonic() if now is None else now


def forget_failures() -> None:
    """Every region counts as healthy again (tests)."""
    _failed_at.clear()


def in_order(regions: list[Region], now: float | None = None) -> list[Region]:
    """The configured order, with regions that failed in the last minute moved to the end."""
    now = time.monotonic() if now is None else now

    def recently_failed(region: Region) -> bool:
        failed = _failed_at.get(region.key)
        return failed is not None and now - failed < SKIP_FAILED_REGION_S

    return sorted(regions, key=recently_failed)  # stable: configured order otherwise


class FailoverRealtimeSession(WindowedRealtimeSession, openai.realtime.RealtimeSession):
    """A session of `ShopMeRealtimeModel` (model.py), which carries `regions` and `on_outage`.
    Its conversation mirror is kept to a window on long calls (history_window.py)."""

    def __init__(self, realtime_model: openai.realtime.RealtimeModel, *, turn_detection_disabled: bool = False) -> None:
        super().__init__(realtime_model, turn_detection_disabled=turn_detection_disabled)
        self.region: Region | None = None  # the region of the current connection
        self.outage_task: asyncio.Task[None] | None = None

    async def _create_ws_conn(self) -> aiohttp.ClientWebSocketResponse:
        last_error: APIError | None = None
        for region in in_order(self._realtime_model.regions):  # type: ignore[attr-defined]
            self._opts.base_url = region.base_url
            self._opts.azure_deployment = region.deployment
            self._opts.api_key = region.api_key
            try:
                connection = await super()._create_ws_conn()
            except APIError as error:
                mark_failed(region)
                logger.warning("realtime model: %s region unreachable (%s)", region.name, type(error).__name__)
                last_error = error
                continue
            if self.region is not None and region != self.region:
                logger.warning("realtime model: continuing in the %s region", region.name)
            self.region = region
            return connection
        raise last_error or APIConnectionError("no realtime region configured")

    def _emit_error(self, error: Exception, recoverable: bool) -> None:
        handler = self._realtime_model.on_outage  # type: ignore[attr-defined]
        if recoverable or handler is None or self.outage_task is not None or self._closing:
            super()._emit_error(error, recoverable)
            return
        if self.region is not None:
            mark_failed(self.region)

        async def tell_caller_then_give_up() -> None:
            try:
                await handler(error)
            except Exception:
                logger.exception("the model-outage handler failed")
            finally:
                # Only now: the session closes on this error, which would cut the apology short.
                super(FailoverRealtimeSession, self)._emit_error(error, False)

        self.outage_task = asyncio.create_task(tell_caller_then_give_up(), name="shopme.model_outage")


    async def aclose(self) -> None:
        # The plugin's aclose re-raises the connection error its main task ended with, which
        # aborts the AgentSession's close half way: no close event, the job never ends. That
        # error was already reported (and handled above); closing must finish.
        try:
            await super().aclose()
        except APIError:
            pass


class QuietConnectionErrors(logging.Filter):
    """The plugin logs every failed reconnect with a full traceback chain; a lost connection is
    an expected event here, said in one line (the error's type), and handled above."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], APIError):
            record.msg = f"{record.getMessage()} ({type(record.exc_info[1]).__name__})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


logging.getLogger("livekit.agents").addFilter(QuietConnectionErrors())
logging.getLogger("livekit.plugins.openai").addFilter(QuietConnectionErrors())
