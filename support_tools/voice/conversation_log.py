"""The running transcript of one session, kept for its conversation record and for tickets.

No livekit import: the agent side feeds it from session events.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ..masking import mask_pii

logger = logging.getLogger("shopme.recorder")

# Tools whose success means the caller got what they came for.
HELPFUL_TOOLS = frozenset({
    "get_order_status", "start_return", "cancel_order",  # orders and returns
    "update_contact_details", "schedule_callback",  # the customer's account
    "get_product_info", "lookup_policy",  # open to every caller
})
# What a ticket carries of the conversation (recent, summary): all the log keeps in memory once
# the transcript is on disk.
RECENT_ENTRIES = 30
SUMMARY_SAID = 3
SUMMARY_TOOLS = 6


def _now() -> datetime:
    return datetime.now(UTC)


class EntryArchive(Protocol):
    """Where the transcript lives during the call instead of memory (the spool file: spool.py)."""

    def append_entry(self, entry: dict[str, Any]) -> None:
        """Durably appended once this returns; raises (OSError) if it was not."""

    def read_entries(self) -> list[dict[str, Any]]:
        """Every entry appended, in order; raises OSError if they cannot be read now."""


@dataclass
class ConversationLog:
    """The transcript, masked as it is added. With an archive, memory holds only what a ticket
    needs (the last entries, the caller's last words, the last tools) and the transcript is read
    back from the archive for the record: a long call's memory stays flat. Without one, or from
    the first entry the archive could not take, entries are held in memory, so none is lost."""

    started_at: datetime = field(default_factory=_now)
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)  # per model, latest totals
    # Set when the call could not go on (the model is unreachable): wins over what was achieved.
    forced_outcome: str | None = None
    archive: EntryArchive | None = None
    _archived: int = 0  # the transcript's first entries, in the archive
    _held: list[dict[str, Any]] = field(default_factory=list)  # the rest, in memory
    _recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_ENTRIES))
    _said: deque[str] = field(default_factory=lambda: deque(maxlen=SUMMARY_SAID))
    _done: deque[str] = field(default_factory=lambda: deque(maxlen=SUMMARY_TOOLS))
    _helped: bool = False

    def _add(self, entry: dict[str, Any]) -> None:
        archived = False
        if self.archive is not None:
            try:
                self.archive.append_entry(entry)
                archived = True
            except Exception as error:  # a full disk must not end the call; the store still gets it
                logger.warning("could not spool a transcript entry (%s); kept in memory", type(error).__name__)
        if archived and not self._held:
            self._archived += 1
        else:
            self._held.append(entry)  # after a failure every later entry too: the order holds
        self._remember(entry)

    def _remember(self, entry: dict[str, Any]) -> None:
        self._recent.append(entry)
        role, tool, outcome = entry.get("role"), entry.get("tool"), entry.get("outcome")
        if role == "user":
            self._said.append(str(entry.get("text", "")))
        elif role == "tool":
            self._done.append(f"{tool} ({outcome})")
            self._helped = self._helped or (tool in HELPFUL_TOOLS and outcome == "ok")

    def restore(self, entry: dict[str, Any]) -> None:
        """An entry already masked (read back from a spool file): held, never archived again."""
        self._held.append(entry)
        self._remember(entry)

    def add_message(self, role: str, text: str) -> None:
        text = text.strip()
        if text:
            self._add({"role": role, "text": mask_pii(text), "at": _now().isoformat()})

    def add_tool_call(self, name: str, arguments: str, output: str, is_error: bool) -> None:
        self._add(
            {
                "role": "tool",
                "tool": name,
                "arguments": mask_pii(arguments),
                "outcome": "error" if is_error else "ok",
                "output": mask_pii(output)[:2000],
                "at": _now().isoformat(),
            }
        )

    @property
    def entries(self) -> list[dict[str, Any]]:
        """The whole transcript, in order (read back from the archive for its part). Raises
        OSError when the archive cannot be read: the caller keeps the record waiting there
        rather than take a transcript without it."""
        archived: list[dict[str, Any]] = []
        if self._archived:
            assert self.archive is not None
            archived = self.archive.read_entries()[: self._archived]
            if len(archived) < self._archived:
                logger.error("the spooled transcript lacks %d entries", self._archived - len(archived))
        return archived + self._held

    @property
    def held_in_memory(self) -> int:
        """Transcript entries this log holds in memory (not in its archive)."""
        return len(self._held)

    def set_usage(self, model: str, totals: dict[str, Any]) -> None:
        self.usage[model] = totals

    def outcome(self, ticket_number: str | None) -> str:
        if self.forced_outcome:
            return self.forced_outcome
        if ticket_number:
            return "escalated"
        return "resolved" if self._helped else "abandoned"

    def recent(self, limit: int = RECENT_ENTRIES) -> list[dict[str, Any]]:
        """The conversation so far, for a ticket: messages and tool outcomes, newest last."""
        return [dict(e) for e in list(self._recent)[-limit:]] if limit > 0 else []

    def summary(self, limit: int = SUMMARY_TOOLS) -> str:
        """A short plain-text summary for a human agent: the caller's last words and actions."""
        said = list(self._said)
        done = list(self._done)[-limit:] if limit > 0 else []
        parts = []
        if said:
            parts.append("Caller said: " + " / ".join(s[:160] for s in said))
        if done:
            parts.append("Tools used: " + ", ".join(done))
        return ". ".join(parts) or "No conversation yet."

    def to_record(self, *, session_id: str, room: str | None, customer_id: str | None,
                  ticket_number: str | None, ended_at: datetime | None = None) -> dict[str, Any]:
        ended_at = ended_at or _now()
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
