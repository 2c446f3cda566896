"""Long calls: the worker keeps a bounded window of the conversation, the realtime server all of it.

livekit-agents keeps the whole conversation three times on the client (the session's history,
the agent's chat context, and the realtime plugin's mirror of the server's conversation) plus
every session event it emitted, for a session report this project never makes (it keeps its own
record: recorder.py, spool.py). Each turn scans, copies and diffs those lists, so without a bound
a call gets slower and bigger with every turn (bench/bench_turn.py measures it).

So, whenever the agent is back to listening (no reply, tool call or chat-context update of its
own under way), the three client-side copies are cut to the last `SHOPME_HISTORY_ITEMS` items,
all three at the same item (a message, never between a tool call and its output), and the events
list is not kept. Nothing is sent to the server: the realtime service keeps the whole
conversation (the model's own context limit applies there as always), so the model's view is
unchanged. What the window does bound is what the plugin replays into a new connection after a
dropped socket or a region failover: the last `SHOPME_HISTORY_ITEMS` items.

This reaches into livekit-agents internals (~=1.8.9, pinned in pyproject.toml), here only:
`AgentSession._recorded_events`, `Agent._chat_ctx`, the realtime model's live `_sessions`, and
the OpenAI realtime session's `_remote_chat_ctx` and `_create_update_chat_ctx_events`.
tests/test_long_calls.py fails if they change.
"""

from __future__ import annotations

from typing import Any

from livekit.agents import AgentSession, AgentStateChangedEvent, llm
from livekit.agents.types import recording_enabled

_TOOL_ITEMS = ("function_call", "function_call_output")


class _UnkeptEvents(list):
    """Stands in for the session's list of every event: appends go nowhere."""

    def append(self, _event: Any) -> None:
        return None


class WindowedRealtimeSession:
    """Mixed into the project's realtime session (model_failover.py): its mirror of the server's
    conversation can be cut from the front without telling the server."""

    _remote_chat_ctx: llm.remote_chat_context.RemoteChatContext

    def window_starts(self, keep: int) -> list[str]:
        """Where a window of at most `keep` items may start, best first (none if short enough):
        the messages among the last `keep` items (a tool call stays with its output)."""
        items = self._remote_chat_ctx.to_chat_ctx().items
        if len(items) <= keep:
            return []
        return [item.id for item in items[len(items) - keep:] if item.type not in _TOOL_ITEMS]

    def forget_before(self, item_id: str) -> int:
        """Drop the mirror's items before `item_id` (the server keeps them). Returns how many."""
        mirror = self._remote_chat_ctx
        if mirror.get(item_id) is None:
            return 0
        dropped = 0
        while mirror._head is not None and mirror._head.item.id != item_id:
            mirror.delete(mirror._head.item.id)
            dropped += 1
        return dropped

    def _create_update_chat_ctx_events(self, chat_ctx: llm.ChatContext) -> list[Any]:
        # A chat context copied before the last cut still starts with items the mirror forgot:
        # they are on the server already, so they are neither created again nor deleted.
        head = self._remote_chat_ctx._head
        if head is not None:
            ids = [item.id for item in chat_ctx.items]
            if head.item.id in ids and ids[0] != head.item.id:
                start = ids.index(head.item.id)
                kept = [i for i in chat_ctx.items[:start] if _is_instructions(i)]
                chat_ctx = llm.ChatContext(kept + chat_ctx.items[start:])
        return super()._create_update_chat_ctx_events(chat_ctx)  # type: ignore[misc]


def _is_instructions(item: llm.ChatItem) -> bool:
    """The agent's instructions, which every window keeps at its head."""
    return item.type == "message" and item.role in ("system", "developer")


def _cut_before(chat_ctx: llm.ChatContext, item_id: str) -> bool:
    """Cut a chat context in place at `item_id`, keeping its leading instructions."""
    index = chat_ctx.index_by_id(item_id)
    if index is None:
        return False
    items = chat_ctx.items
    instructions = [i for i in items[:index] if _is_instructions(i)]
    items[:] = instructions + items[index:]
    return True


class HistoryWindow:
    """Keeps one session's client-side conversation to the last `keep` items (see module doc)."""

    def __init__(self, session: AgentSession[Any], keep: int) -> None:
        self.session = session
        self.keep = keep
        self.cuts = 0  # how many times the window was applied

    def on_agent_state(self, event: AgentStateChangedEvent) -> None:
        self._stop_keeping_events()
        if event.new_state == "listening":
            self.apply()

    def _stop_keeping_events(self) -> None:
        session = self.session
        if isinstance(session._recorded_events, _UnkeptEvents):
            return
        if recording_enabled(session.options.recording_options):
            return  # a session report was asked for: it gets its events
        session._recorded_events = _UnkeptEvents()

    def apply(self) -> None:
        """Cut the mirror, the agent's chat context and the history at the same item."""
        mirrors = [rt for rt in getattr(self.session.llm, "_sessions", ()) if isinstance(rt, WindowedRealtimeSession)]
        try:
            agent = self.session.current_agent
        except RuntimeError:
            return
        for mirror in mirrors:
            held = {item.id for item in agent._chat_ctx.items}
            start = next((i for i in mirror.window_starts(self.keep) if i in held), None)
            if start is None:
                continue  # short enough, or no common item to cut at: leave all as is
            _cut_before(agent._chat_ctx, start)
            if not _cut_before(self.session.history, start):
                self.session.history.truncate(max_items=self.keep)
            mirror.forget_before(start)
            self.cuts += 1
        if not mirrors:
            self.session.history.truncate(max_items=self.keep)


def keep_history_bounded(session: AgentSession[Any], keep: int) -> HistoryWindow:
    """Attach the window to a session; call before `session.start`."""
    window = HistoryWindow(session, keep)
    session.on("agent_state_changed", window.on_agent_state)
    return window
