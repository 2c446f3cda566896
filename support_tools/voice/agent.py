"""The ShopMe support agent: persona, tools and the one-time greeting. Reused as is by tests."""

from __future__ import annotations

from livekit.agents import Agent

from ..settings import Settings
from .prompts import greeting_instructions, system_instructions
from .tools import ALL_TOOLS


class SupportAgent(Agent):
    def __init__(self, settings: Settings) -> None:
        super().__init__(instructions=system_instructions(settings), tools=list(ALL_TOOLS))
        self._greeting = greeting_instructions(settings)
        self._greeted = False

    async def on_enter(self) -> None:
        # on_enter runs again if the agent is ever re-activated; the caller hears one greeting.
        if self._greeted:
            return
        self._greeted = True
        self.session.generate_reply(instructions=self._greeting)
