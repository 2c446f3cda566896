"""ShopMe support domain: the store, the rules, and the tools the voice agent may call.

Domain modules (store, verification, orders, returns, ...) never import livekit, so they can
be tested on their own; the `tools/` package and the few LiveKit adapters bind them to a session.
"""
