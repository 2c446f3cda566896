"""The shop's rules behind every support tool. Imports neither livekit nor the voice layer."""
