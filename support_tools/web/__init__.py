"""The customer's web page and its token endpoint: the shop backend's stand-in for trying the agent.

`python -m support_tools.web` serves the built page (`web/dist/`) and `POST /api/token`. It mints
LiveKit tokens only: it imports the settings and livekit-api, never the voice layer.
"""
