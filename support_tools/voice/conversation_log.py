"""The running transcript of one session, kept for its conversation record and for tickets.

No livekit import: the agent side feeds it from session events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..masking import mask_pii

# Tools whose success means the caller got what they came for.
HELPFUL_TOOLS = frozenset({
    "get_order_status", "start_return", "cancel_order",  # orders and returns
    "update_contact_details", "schedule_callback",  # the customer's account
    "get_product_info", "lookup_policy",  # open to every caller
})


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ConversationLog:
    started_at: datetime = field(default_factory=_now)
    entries: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)  # per model, latest totals

    def add_message(self, role: str, text: str) -> None:
        text = text.strip()
        if text:
            self.entries.append({"role": role, "text": mask_pii(text), "at": _now().isoformat()})

    def add_tool_call(self, name: str, arguments: str, output: str, is_error: bool) -> None:
        self.entries.append(
            {
                "role": "tool",
                "tool": name,
                "arguments": mask_pii(arguments),
                "outcome": "error" if is_error else "ok",
                "output": mask_pii(output)[:2000],
                "at": _now().isoformat(),
            }
        )

    def set_usage(self, model: str, totals: dict[str, Any]) -> None:
        self.usage[model] = totals

    def outcome(self, ticket_number: str | None) -> str:
        if ticket_number:
            return "escalated"
        helped = any(
            e["role"] == "tool" and e["tool"] in HELPFUL_TOOLS and e["outcome"] == "ok"
            for e in self.entries
        )
        return "resolved" if helped else "abandoned"

    def recent(self, limit: int = 30) -> list[dict[str, Any]]:
        """The conversation so far, for a ticket: messages and tool outcomes, newest last."""
        return [dict(e) for e in self.entries[-limit:]]

    def summary(self, limit: int = 6) -> str:
        """A short plain-text summary for a human agent: the caller's last words and actions."""
        said = [e["text"] for e in self.entries if e["role"] == "user"][-3:]
        done = [f'{e["tool"]} ({e["outcome"]})' for e in self.entries if e["role"] == "tool"][-limit:]
        parts = []
        if said:
            parts.append("Caller said: " + " / ".join(s[:160] for s in said))
        if done:
            parts.append("Tools used: " + ", ".join(done))
        return ". ".join(parts) or "No conversation yet."

    def to_record(self, *, session_id: str, room: str | None, customer_id: str | None,
                  ticket_number: str | None) -> dict[str, Any]:
        ended_at = _now()
        return {
            "session_id": session_id,
            "room": room,
            "customer_id": customer_id,
            "started_at": self.started_at.isoformat(),
            "ended_at": ended_at.isoformat(),
            "duration_s": round((ended_at - self.started_at).total_seconds(), 3),
            "outcome": self.outcome(ticket_number),
            "ticket_number": ticket_number,
            "transcript": self.entries,
            "usage": self.usage,
        }
