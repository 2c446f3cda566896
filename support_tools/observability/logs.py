"""Logs for machines and people.

`python agent.py start` writes one JSON object per line (livekit-agents' JSON formatter); `dev`
and `console` keep the framework's human-readable lines. On top of that, in every mode:

- every line logged while a call runs carries `job_id`, `room` and `session_id`
  (`call_log_fields`, set through livekit-agents' `JobContext.log_context_fields`), and so do
  the framework's lines about that call in the worker's own process (`SessionIdOfJob`);
- every line is masked before any handler writes it (`MaskPersonalData`): emails and phone
  numbers in the message, in extra fields (room names of phone calls hold the caller's number)
  and in tracebacks.

Job processes send their records to the worker's own process, whose handlers write them, so the
mask on those handlers covers both.
"""

from __future__ import annotations

import logging
import re

from ..masking import mask_phone, mask_pii, mask_value

# LogRecord's own attributes: everything else on a record is an extra field.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}
_TRACEBACK_FORMATTER = logging.Formatter()
WITHHELD = "(withheld)"
# LiveKit SIP dispatch rules name a phone call's room after the caller's number, glued to the
# prefix and suffix by underscores (`call_+919876543210_aBcD`), which free-text masking keeps.
_NUMBER_IN_ROOM_NAME = re.compile(r"\+?\d{8,15}")
_ROOM_FIELDS = frozenset({"room", "room_name"})


def mask_room_name(room: str) -> str:
    return _NUMBER_IN_ROOM_NAME.sub(lambda m: mask_phone(m.group(0)), room)


def call_log_fields(*, job_id: str, room: str | None, session_id: str) -> dict[str, str]:
    """The fields every log line of one call carries."""
    return {"job_id": job_id, "room": mask_room_name(room or ""), "session_id": session_id}


class MaskPersonalData(logging.Filter):
    """A handler filter: the record leaves with emails and phone numbers masked everywhere."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._mask(record)
        except Exception:
            # A log call must never fail because of its mask, nor leak what it could not mask.
            record.msg, record.args = "(log line withheld: it could not be masked)", None
            record.exc_info = record.exc_text = None
            for key in list(vars(record)):
                if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                    setattr(record, key, WITHHELD)
        return True

    @staticmethod
    def _mask(record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)  # a malformed call still logs, unformatted
        record.msg, record.args = mask_pii(message), None
        for key, value in list(vars(record).items()):
            if key in _ROOM_FIELDS and isinstance(value, str):
                setattr(record, key, mask_room_name(value))
            elif key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                setattr(record, key, mask_value(value))
        if record.exc_info:
            # Formatters print exc_text when set and exc_info is gone: the masked text only.
            record.exc_text = _TRACEBACK_FORMATTER.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = mask_pii(record.exc_text)


class SessionIdOfJob(logging.Filter):
    """livekit-agents' own lines about a job (written by the worker's process) carry `job_id`
    and `room`; a call's session id is its job id, so they get `session_id` too."""

    def filter(self, record: logging.LogRecord) -> bool:
        job_id = getattr(record, "job_id", None)
        if job_id and not hasattr(record, "session_id"):
            record.session_id = job_id
        return True


def prepare_log_handlers(root: logging.Logger | None = None) -> None:
    """Put the call fields and the mask on every handler of the root logger (once each)."""
    for handler in (root or logging.getLogger()).handlers:
        for kind in (SessionIdOfJob, MaskPersonalData):
            if not any(isinstance(f, kind) for f in handler.filters):
                handler.addFilter(kind())
