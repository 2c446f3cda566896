#!/usr/bin/env bash
# Regenerates prompts/audio/model_unavailable.wav (24 kHz mono PCM16) from the words in
# support_tools/voice/model_outage.py (APOLOGY), with espeak-ng (Debian: apt-get install espeak-ng).
set -euo pipefail
cd "$(dirname "$0")/.."
words="$(.venv/bin/python -c 'from support_tools.voice.model_outage import APOLOGY; print(APOLOGY)')"
tmp="$(mktemp --suffix=.wav)"
espeak-ng -v en-us -s 160 -w "$tmp" "$words"
.venv/bin/python - "$tmp" prompts/audio/model_unavailable.wav <<'PY'
import sys, wave
import numpy as np
with wave.open(sys.argv[1]) as src:
    rate, pcm = src.getframerate(), np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
out_len = int(len(pcm) * 24000 / rate)
resampled = np.interp(np.linspace(0, len(pcm) - 1, out_len), np.arange(len(pcm)), pcm).astype("<i2")
with wave.open(sys.argv[2], "wb") as dst:
    dst.setnchannels(1); dst.setsampwidth(2); dst.setframerate(24000)
    dst.writeframes(resampled.tobytes())
PY
rm -f "$tmp"
