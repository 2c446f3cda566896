"""What a log line of a call shows: JSON in `start` mode with the call's fields, personal data
masked in the message, the extra fields and tracebacks. (Whole `start` and `dev` workers:
test_worker_capacity.py; a call's lines in a room: tests/room/.)"""

from __future__ import annotations

import io
import json
import logging

from livekit.agents.cli.log import JsonFormatter

from support_tools.observability.logs import (
    MaskPersonalData,
    call_log_fields,
    prepare_log_handlers,
)

EMAIL, PHONE = "priya.sharma@example.com", "+91 98765 43210"


def capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.Logger("test-root")
    root.addHandler(handler)
    prepare_log_handlers(root)
    prepare_log_handlers(root)  # idempotent: one mask per handler
    assert sum(isinstance(f, MaskPersonalData) for f in handler.filters) == 1
    return root, stream


def test_a_json_line_carries_the_call_fields_and_masks_personal_data() -> None:
    logger, stream = capture(JsonFormatter())
    fields = call_log_fields(job_id="AJ_123", room="sip_+919876543210_abc", session_id="AJ_123")
    try:
        raise ValueError(f"cannot reach {EMAIL}")
    except ValueError:
        logger.exception(
            "caller %s asked to change email to %s", PHONE, EMAIL,
            extra={**fields, "lk.pii.arguments": {"email": EMAIL, "phones": [PHONE]}},
        )

    [line] = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["job_id"] == "AJ_123" and entry["session_id"] == "AJ_123"
    assert entry["room"].startswith("sip_") and "9876543210" not in entry["room"]
    assert entry["message"] == "caller ******3210 asked to change email to p***@example.com"
    assert entry["lk.pii.arguments"] == {"email": "p***@example.com", "phones": ["******3210"]}
    assert "ValueError: cannot reach p***@example.com" in entry["exc_info"]
    assert EMAIL not in line and "98765" not in line


def test_a_human_readable_line_is_masked_too() -> None:
    logger, stream = capture(logging.Formatter("%(levelname)s %(message)s"))
    try:
        raise RuntimeError(EMAIL)
    except RuntimeError:
        logger.exception("order 482913 for %s", PHONE)

    text = stream.getvalue()
    assert text.startswith("ERROR order 482913 for ******3210")  # order numbers stay readable
    assert "RuntimeError: p***@example.com" in text
    assert EMAIL not in text and "98765" not in text


def test_the_frameworks_lines_about_a_job_carry_its_session_id() -> None:
    logger, stream = capture(JsonFormatter())
    logger.info("process exiting", extra={"job_id": "AJ_9", "room": "room-1"})
    logger.info("worker started")
    about_job, worker_only = (json.loads(line) for line in stream.getvalue().splitlines())
    assert about_job["session_id"] == "AJ_9"
    assert "session_id" not in worker_only


def test_a_malformed_log_call_still_logs() -> None:
    logger, stream = capture(logging.Formatter("%(message)s"))
    logger.warning("two placeholders %s %s", "one only")
    assert "two placeholders" in stream.getvalue()


def test_a_value_that_cannot_be_masked_is_withheld_and_the_log_call_still_succeeds() -> None:
    looping: list = [EMAIL]
    looping.append(looping)  # masking it never ends

    logger, stream = capture(JsonFormatter())
    logger.info("caller %s", PHONE, extra={"email": EMAIL, "contacts": looping})
    entry = json.loads(stream.getvalue())
    assert entry["message"] == "(log line withheld: it could not be masked)"
    assert entry["email"] == entry["contacts"] == "(withheld)"
    assert EMAIL not in stream.getvalue() and "98765" not in stream.getvalue()
