"""When no region of the realtime model is left: the call ends cleanly, nothing is lost.

The caller hears a short apology (a clip shipped with the project: no model is left to speak,
and there is no TTS), and the same words go into the transcript. A verified caller with a phone
on file gets a callback ticket. The record is stored with outcome `model_unavailable` when the
session ends, which it does right after this (model_failover.py).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from livekit import rtc

from .session import Userdata

if TYPE_CHECKING:
    from livekit.agents import AgentSession

    from .model import ShopMeRealtimeModel

logger = logging.getLogger("shopme.model")

MODEL_UNAVAILABLE = "model_unavailable"
APOLOGY = (
    "I'm sorry, our voice assistant has a technical problem and I have to end this call. "
    "If we have your phone number, a colleague will call you back. Otherwise, please call again "
    "in a few minutes."
)
# The words above, spoken (scripts/make-apology-clip.sh makes it from them).
APOLOGY_CLIP = Path(__file__).resolve().parents[2] / "prompts" / "audio" / "model_unavailable.wav"
CONSOLE_LINE = (
    "error: the voice model cannot be reached (every configured Azure region failed); "
    "the conversation record was stored"
)
PLAYOUT_LIMIT_S = 30.0
FRAME_MS = 20


async def apology_frames(path: Path = APOLOGY_CLIP) -> AsyncIterator[rtc.AudioFrame]:
    with wave.open(str(path)) as clip:
        rate, channels = clip.getframerate(), clip.getnchannels()
        samples_per_frame = rate * FRAME_MS // 1000
        while chunk := clip.readframes(samples_per_frame):
            yield rtc.AudioFrame(
                data=chunk,
                sample_rate=rate,
                num_channels=channels,
                samples_per_channel=len(chunk) // (2 * channels),
            )


async def end_call_without_model(session: AgentSession[Userdata], state: Userdata) -> None:
    """Apologise, open a callback ticket when we can, and mark the record. Never raises."""
    state.log.forced_outcome = MODEL_UNAVAILABLE
    state.log.add_message("assistant", APOLOGY)
    try:
        handle = session.say(APOLOGY, audio=apology_frames(), add_to_chat_ctx=False)
        await asyncio.wait_for(handle.wait_for_playout(), PLAYOUT_LIMIT_S)
    except Exception as error:  # the caller may have gone too: the record matters more
        logger.warning("could not play the apology (%s)", type(error).__name__)
    try:
        ticket = await state.service.open_outage_callback(state.caller, state.log.summary(), state.log.recent())
    except Exception as error:
        logger.warning("could not open the callback ticket (%s)", type(error).__name__)
        return
    if ticket is not None:
        logger.info("callback ticket %s opened after the model outage", ticket["ticket"])


def attach_outage_handler(model: ShopMeRealtimeModel, session: AgentSession[Userdata], state: Userdata) -> None:
    """Call before `session.start`."""

    async def on_outage(_error: Exception) -> None:
        await end_call_without_model(session, state)

    model.on_outage = on_outage


class _ConsoleOutcome:
    """Console mode: an outage ends the whole process, with one line and exit code 1."""

    ended_by_outage = False


def end_console_after_outage(state: Userdata) -> None:
    """Called once the record is stored: in console mode, stop the process like Ctrl-C would
    (the console would otherwise sit at its prompt with no model behind it)."""
    if state.log.forced_outcome != MODEL_UNAVAILABLE or _ConsoleOutcome.ended_by_outage:
        return
    _ConsoleOutcome.ended_by_outage = True
    # To the main thread, as Ctrl-C would be: the console's job runs in another thread, and a
    # signal the kernel hands to that thread would leave the main thread blocked on its input.
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


def console_exit_code() -> int:
    """After the CLI has returned: print the one line and give exit code 1 if an outage ended it."""
    if not _ConsoleOutcome.ended_by_outage:
        return 0
    print(CONSOLE_LINE, file=sys.stderr, flush=True)
    return 1
