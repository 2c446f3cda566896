"""A lean stand-in for the Azure realtime service, run in its own process by the benchmarks.

It speaks just enough of the GA wire for the livekit-agents OpenAI plugin: `session.created`,
`session.updated`, and for each `response.create` either an empty reply (start-up benchmark) or
`--audio-seconds` of model audio paced in real time (capacity benchmark), in deltas of `--delta-ms`
(default 20, or the LEAN_FAKE_DELTA_MS environment variable: capacity.py starts this script and
passes only `--audio-seconds`). It never
parses the caller's `input_audio_buffer.append` events (most of the traffic), so its own CPU stays
small next to the worker's.

Every 20 ms slice of a delta carries the delta's send time in its first four samples
(CLOCK_MONOTONIC in µs, which every process on the machine shares), so the receiving side can tell
the relay delay per 20 ms of audio whatever the delta size.
On stdout: `port <n>` once, then `create <connection> <monotonic s>` per response.create.

    .venv/bin/python bench/lean_fake.py [--audio-seconds 30] [--delta-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import struct
import sys
import time
from itertools import count
from typing import Any

from aiohttp import WSMsgType, web

RATE = 24_000
STAMP_EVERY_MS = 20  # capacity.py's TimingSpeaker reads one stamp per 20 ms of audio
STAMP_SAMPLES = RATE * STAMP_EVERY_MS // 1000
DELTA_MS_ENV = "LEAN_FAKE_DELTA_MS"
STAMP = struct.Struct("<q")  # 8 bytes = the first 4 PCM16 samples of a delta
_ids = count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):08d}"


def stamped_delta(tone: bytes) -> str:
    """`tone` (a whole number of 20 ms slices) with the send time at the start of every slice."""
    stamp = STAMP.pack(time.monotonic_ns() // 1000)
    slice_bytes = STAMP_SAMPLES * 2
    return base64.b64encode(b"".join(stamp + tone[at + STAMP.size:at + slice_bytes]
                                     for at in range(0, len(tone), slice_bytes))).decode()


def read_stamp(pcm: bytes, offset: int) -> float:
    """Send time (monotonic seconds) stamped at `offset` bytes of the model's PCM stream."""
    return STAMP.unpack_from(pcm, offset)[0] / 1e6


def initial_session(deployment: str) -> dict[str, Any]:
    return {
        "id": new_id("sess"), "object": "realtime.session", "type": "realtime", "model": deployment,
        "instructions": "", "tools": [], "tool_choice": "auto", "output_modalities": ["audio"],
        "audio": {
            "input": {"format": {"type": "audio/pcm", "rate": RATE}, "transcription": None,
                      "turn_detection": None},
            "output": {"format": {"type": "audio/pcm", "rate": RATE}, "voice": "alloy"},
        },
        "max_output_tokens": "inf",
    }


class LeanConnection:
    def __init__(self, ws: web.WebSocketResponse, index: int, deployment: str, audio_seconds: float,
                 delta_ms: int) -> None:
        self.ws, self.index, self.audio_seconds, self.delta_ms = ws, index, audio_seconds, delta_ms
        self.session = initial_session(deployment)
        self.active: asyncio.Task[None] | None = None
        # A quiet tone, so nothing along the way treats the audio as silence.
        self.tone = b"".join(struct.pack("<h", 800 if (i // 24) % 2 else -800)
                             for i in range(RATE * delta_ms // 1000))

    async def send(self, event: dict[str, Any]) -> None:
        event.setdefault("event_id", new_id("event"))
        await self.ws.send_str(json.dumps(event))

    async def serve(self) -> None:
        await self.send({"type": "session.created", "session": self.session})
        async for message in self.ws:
            if message.type != WSMsgType.TEXT:
                continue
            if "input_audio_buffer.append" in message.data[:80]:
                continue  # the caller's audio: counted by the worker side, not parsed here
            event = json.loads(message.data)
            kind = event.get("type")
            if kind == "session.update":
                self.session.update({k: v for k, v in event.get("session", {}).items() if k != "audio"})
                await self.send({"type": "session.updated", "session": self.session})
            elif kind == "response.create":
                print(f"create {self.index} {time.monotonic():.6f}", flush=True)
                metadata = (event.get("response") or {}).get("metadata")
                if self.active is None or self.active.done():
                    self.active = asyncio.create_task(self.respond(metadata))
            elif kind == "response.cancel" and self.active is not None:
                self.active.cancel()
        if self.active is not None:
            self.active.cancel()

    async def respond(self, metadata: Any) -> None:
        response_id, item_id = new_id("resp"), new_id("item")
        # The plugin matches the reply to its request by the metadata it sent.
        response = {"id": response_id, "object": "realtime.response", "status": "in_progress",
                    "status_details": None, "output": [], "conversation_id": "conv",
                    "metadata": metadata, "usage": None}
        await self.send({"type": "response.created", "response": response})
        if self.audio_seconds > 0:
            item = {"id": item_id, "object": "realtime.item", "type": "message", "role": "assistant",
                    "status": "in_progress", "content": []}
            where = {"response_id": response_id, "output_index": 0}
            at = {**where, "item_id": item_id, "content_index": 0}
            await self.send({"type": "response.output_item.added", **where, "item": item})
            await self.send({"type": "conversation.item.added", "previous_item_id": None, "item": item})
            await self.send({"type": "response.content_part.added", **at,
                             "part": {"type": "audio", "transcript": ""}})
            started = time.monotonic()
            deltas = int(self.audio_seconds * 1000 / self.delta_ms)
            try:
                for n in range(deltas):
                    due = started + n * self.delta_ms / 1000
                    if due > time.monotonic():
                        await asyncio.sleep(due - time.monotonic())
                    await self.send({"type": "response.output_audio.delta", **at,
                                     "delta": stamped_delta(self.tone)})
            except asyncio.CancelledError:
                response["status"] = "cancelled"
            await self.send({"type": "response.output_audio.done", **at})
            await self.send({"type": "response.output_audio_transcript.done", **at, "transcript": ""})
            await self.send({"type": "response.content_part.done", **at,
                             "part": {"type": "audio", "transcript": ""}})
            item = {**item, "status": "completed", "content": [{"type": "output_audio", "transcript": ""}]}
            await self.send({"type": "response.output_item.done", **where, "item": item})
            response["output"] = [item]
        response["status"] = response["status"] if response["status"] == "cancelled" else "completed"
        await self.send({"type": "response.done", "response": response})


async def main(audio_seconds: float, delta_ms: int) -> None:
    connections = count(0)

    async def handle(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        deployment = request.query.get("model") or "gpt-realtime"
        await LeanConnection(ws, next(connections), deployment, audio_seconds, delta_ms).serve()
        return ws

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app, handle_signals=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"port {port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio-seconds", type=float, default=0.0)
    parser.add_argument("--delta-ms", type=int, default=int(os.environ.get(DELTA_MS_ENV, "20")),
                        help="model audio per delta, a multiple of 20")
    args = parser.parse_args()
    if args.delta_ms <= 0 or args.delta_ms % STAMP_EVERY_MS:
        parser.error("--delta-ms must be a positive multiple of 20")
    try:
        asyncio.run(main(args.audio_seconds, args.delta_ms))
    except KeyboardInterrupt:
        sys.exit(0)
