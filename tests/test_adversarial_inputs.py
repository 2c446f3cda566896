"""Inputs a hostile or confused model could send: racing verification calls, calendar-edge
times, unusual phone and email forms, regex-hostile digit runs, contact details in logs.

Each test names a contract or project rule that held only once its defect was fixed. They use
the shared store fixtures (SQLite and PostgreSQL) and the fake Azure realtime service.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from support_tools.domain.caller import CallerState
from support_tools.domain.errors import SupportError
from support_tools.domain.normalize import normalize_email, normalize_phone
from support_tools.domain.rules import ShopRules
from support_tools.domain.service import SupportService
from support_tools.masking import mask_pii
from support_tools.voice.conversation_log import ConversationLog
from tests.fake_azure import fixtures
from tests.fake_azure.fixtures import agent_session
from tests.fake_azure.script import ToolCall
from tests.store_fixtures import caller, verified

fake_azure = fixtures.fake_azure
http_session = fixtures.http_session

PRIYA_ORDER, PRIYA_PIN = "482913", "560001"
DB_DRIVER_LOGGERS = ("aiosqlite", "asyncpg", "sqlalchemy.engine")


# --- 1. lockout bypass: verification attempts made at the same moment ------------------------


async def test_parallel_verification_attempts_cannot_get_past_the_lockout(service) -> None:
    """Contract: after 3 failures in a session verification is locked. The realtime model may
    put several function calls in one response and livekit-agents runs them concurrently; every
    call passes the lock check before any of them has counted its failure, so a caller gets
    unlimited guesses per response. Fixed in (support_tools/domain/verification.py)."""
    me = caller()
    guesses = [service.verify_customer(me, PRIYA_ORDER, f"56000{d}") for d in (2, 3, 4, 5, 6, 7)]
    guesses.append(service.verify_customer(me, PRIYA_ORDER, PRIYA_PIN))  # the 7th guess is right
    await asyncio.gather(*guesses, return_exceptions=True)
    assert not me.verified, "the 7th guess verified the caller although 3 failures lock the session"
    assert me.verification_locked


async def test_a_model_response_with_many_verify_calls_is_still_locked_after_three_failures(
    fake_azure, http_session, demo_store
) -> None:
    """The same bypass through the real agent: one model response with 4 verify_customer calls,
    3 wrong PIN codes and the right one last. FAILS ON PURPOSE."""
    fake = fake_azure
    service = SupportService(demo_store, ShopRules())
    me = CallerState(session_id="review-lockout")
    fake.script.say("Hello, ShopMe support.")
    async with agent_session(fake, http_session, service=service, caller=me) as run:
        await fake.wait_for_sent("response.done")
        fake.script.respond(
            *[
                ToolCall("verify_customer", {"order_number": PRIYA_ORDER, "postal_code": pin})
                for pin in ("110001", "110002", "110003", PRIYA_PIN)
            ]
        )
        fake.script.say("Let me check.")
        await run.session.run(user_input=f"Order {PRIYA_ORDER}, PIN 110001 or 110002 or ...")
    assert me.failed_verifications >= 3
    assert not me.verified, "a 4th guess in the same response verified a locked session"


# --- 2. a tool input that ends in an internal error instead of a clear refusal ----------------


@pytest.mark.parametrize(
    "when", ["9999-12-31T23:00:00-05:00", "0001-01-01T03:00:00+05:30"]
)
async def test_a_callback_time_at_the_edge_of_the_calendar_is_refused_clearly(service, when) -> None:
    """Contract: every unexpected argument is answered with a clear ToolError. These parse as ISO
    8601 with an offset, then `astimezone` overflows: OverflowError escapes the service and the
    tool answers with the generic "did not work on our side" sentence (and logs a traceback).
    Fixed in (support_tools/domain/callbacks.py check_bookable)."""
    with pytest.raises(SupportError):
        await service.schedule_callback(verified(), when, "question about my order")


# --- 3. PII that the validators accept but the masking leaves readable ------------------------


@pytest.mark.parametrize(
    "phone", ["98765  43210", "98765 - 43210", "+91 - 98765 - 43210", "+91  98765  43210"]
)
def test_every_phone_number_the_tools_accept_is_masked_in_records(phone) -> None:
    """update_contact_details/schedule_callback accept these (normalize_phone drops the
    separators), and the tool call's arguments go into the conversation record and the ticket
    through mask_pii, which only knows single separators. Fixed in (masking.py)."""
    assert normalize_phone(phone)  # accepted and stored by the tools
    log = ConversationLog()
    log.add_tool_call(
        "update_contact_details", json.dumps({"field": "phone", "value": phone}), "{}", False
    )
    stored = json.dumps(log.to_record(session_id="s", room=None, customer_id=None, ticket_number=None))
    assert "98765" not in stored, stored


@pytest.mark.parametrize("email", ["x{y}@example.com", "riya.sharma/home@example.com", "priya!sharma@example.com"])
def test_every_email_the_tools_accept_is_masked_in_records(email) -> None:
    """normalize_email accepts RFC 5322 local parts ({, ', #, /, ...); mask_pii's email pattern
    does not, so the address stays whole (x{y}@...) or keeps its head (o'b***@...). FAILS ON PURPOSE."""
    assert normalize_email(email) == email
    masked = mask_pii(json.dumps({"field": "email", "value": email}))
    assert f'"value": "{email[0]}***@example.com"' in masked, masked


def test_masking_a_long_digit_run_glued_to_a_letter_does_not_hang_the_worker() -> None:
    """mask_pii runs on the event loop for every caller message and every tool call's arguments
    (recorder -> ConversationLog), and again when the record and ticket are stored. Its phone
    pattern nests `\\d+(?:[ .-]?\\d+)*`, which backtracks exponentially when a digit run is
    followed by a letter: 26 digits + "x" take ~5 s, each further digit doubles it. A model call
    such as get_order_status(order_number="1111...1x") (refused by the tool, but still recorded)
    freezes the session and its shutdown. This is a liveness check with a wide margin (the fixed
    pattern needs milliseconds), run in a child process so a hang cannot stall the suite.
    Fixed in (support_tools/masking.py _PHONE_IN_TEXT)."""
    code = (
        "import json; from support_tools.voice.conversation_log import ConversationLog; "
        "ConversationLog().add_tool_call('get_order_status', "
        "json.dumps({'order_number': '1' * 40 + 'x'}), '', True)"
    )
    root = Path(__file__).resolve().parent.parent
    try:
        subprocess.run([sys.executable, "-c", code], cwd=root, check=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("masking one recorded tool call did not finish within 30 s (catastrophic backtracking)")


# --- 4. PII in the worker's logs -----------------------------------------------------------


async def test_tool_arguments_with_contact_details_are_not_logged_in_clear(
    fake_azure, http_session, demo_store, caplog
) -> None:
    """Project rule: emails and phone numbers are masked in logs. `dev` and `console` log at
    DEBUG, and livekit-agents logs every tool call's raw arguments ("executing tool", extra field
    `lk.pii.arguments`), which its formatters print. Existing tests only look at caplog.text, which
    leaves extra fields out. Fixed in (no filter on the livekit.agents logger)."""
    caplog.set_level(logging.DEBUG)
    fake = fake_azure
    service = SupportService(demo_store, ShopRules())
    me = CallerState(session_id="review-logs")
    await service.verify_customer(me, PRIYA_ORDER, PRIYA_PIN)
    new_email = "new.address.review@example.org"
    fake.script.say("Hello Priya.")
    async with agent_session(fake, http_session, service=service, caller=me) as run:
        await fake.wait_for_sent("response.done")
        fake.script.call_tool("update_contact_details", {"field": "email", "value": new_email})
        fake.script.say("Done.")
        await run.session.run(user_input=f"Please change my email to {new_email}")
    leaked = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        # agent.py keeps the database drivers at WARNING (they would print SQL parameters)
        if not r.name.startswith(DB_DRIVER_LOGGERS)
        and new_email in json.dumps({k: v for k, v in r.__dict__.items() if k != "args"}, default=str)
    ]
    assert not leaked, f"log records carry the email in clear: {leaked}"
