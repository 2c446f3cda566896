"""The LiveKit layer: the agent, its function tools and everything that knows a session or a room."""
