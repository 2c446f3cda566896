"""How the caller's audio leaves the room for the model: at the model's own rate, in frames as
long as the model plugin's appends.

The realtime model takes 24 kHz mono. Asking the room's audio stream for exactly that lets the
native client resample (off the Python thread), instead of the plugin resampling every frame in
Python. The plugin sends the caller's audio in 100 ms appends whatever the frame size, so 100 ms
frames reach the model at the same moment 50 ms frames would, with half the per-frame work.
"""

from __future__ import annotations

from livekit.agents import room_io

MODEL_INPUT_RATE = 24_000  # the realtime API's input format
PLUGIN_APPEND_MS = 100  # the OpenAI plugin's input_audio_buffer.append chunk


def caller_audio_input() -> room_io.AudioInputOptions:
    return room_io.AudioInputOptions(
        sample_rate=MODEL_INPUT_RATE, num_channels=1, frame_size_ms=PLUGIN_APPEND_MS
    )
