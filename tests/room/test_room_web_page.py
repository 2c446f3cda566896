"""The customer page in a real browser, in real rooms: headless Chromium (Debian's, driven by
Selenium) opens the page served by `python -m support_tools.web`, gets a token from it, and talks
through the LiveKit double with the real `agent.py dev` worker on the fake Azure service.

Like every room-level test this runs inside the private network namespace (loopback only). The
browser's fake microphone plays a WAV. Selenium blocks, so each browser step runs in a thread
while the double and the worker keep running on the event loop. A failed test leaves a
screenshot in test-output/browser/failures/; the order-card test keeps one in test-output/browser/.
"""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import jwt
import numpy as np
import pytest
from livekit.protocol import agent

from tests.browser.customer_page import CustomerPage
from tests.browser.fixtures import output_dir
from tests.browser.page_server import token_endpoint

from .harness import (
    AGENT_NAME,
    GREETING,
    PRIYA_ORDER,
    PRIYA_PIN,
    SPOKEN_ANSWER,
    in_room,
    recording,
    room_url,
)

pytestmark = [pytest.mark.asyncio(loop_scope="package"), pytest.mark.room]

VERIFY = f'call verify_customer {{"order_number": "{PRIYA_ORDER}", "postal_code": "{PRIYA_PIN}"}}'
ORDER_STATUS = f'call get_order_status {{"order_number": "{PRIYA_ORDER}"}}'
ESCALATE = 'call escalate_to_human {"reason": "My parcel never arrived", "urgency": "high"}'
CARD_SCREENSHOT = "page-with-order-card.png"
AGENT_TIMEOUT_S = 4
WAIT_S = 40.0


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype(np.int16).tobytes())
    return path


@pytest.fixture(scope="module")
def microphone_files(tmp_path_factory) -> dict[str, Path]:
    """`silence`: the caller says nothing. `speech`: "where is my order" every 8 seconds."""
    folder = tmp_path_factory.mktemp("microphone")
    speech, rate = recording()
    words = np.frombuffer(speech, dtype=np.int16)
    pause = np.zeros(rate * 8, dtype=np.int16)
    return {
        "silence": write_wav(folder / "silence.wav", np.zeros(rate, dtype=np.int16), rate),
        "speech": write_wav(folder / "speech.wav", np.concatenate([pause, words]), rate),
    }


@pytest.fixture(scope="module")
def page_url(stack):
    """The page and its token endpoint, handing out tokens of the double's key pair."""
    with token_endpoint(
        livekit_url=stack.lk.url,
        api_key=stack.lk.api_key,
        api_secret=stack.lk.api_secret,
        log_path=output_dir() / "logs" / "token-endpoint-room.log",
        AGENT_NAME=AGENT_NAME,
        SHOPME_WEB_TOKENS_PER_MINUTE="100",
        SHOPME_WEB_AGENT_TIMEOUT_S=str(AGENT_TIMEOUT_S * 10),
    ) as url:
        yield url


@pytest.fixture
def open_page(browser_factory, microphone_files):
    """A fresh browser on the page; `microphone` names the WAV its fake microphone plays."""

    async def open_at(url: str, *, microphone: str = "silence", deny_microphone: bool = False):
        def start() -> CustomerPage:
            driver = browser_factory(
                fake_microphone_wav=microphone_files[microphone],
                deny_microphone=deny_microphone,
                # WebRTC offers its real host addresses to the double: no mDNS names.
                extra_flags=("--disable-features=WebRtcHideLocalIpsWithMdns",),
            )
            return CustomerPage(driver, wait_s=WAIT_S).open(url)

        return await asyncio.to_thread(start)

    return open_at


async def in_browser(step, *args):
    return await asyncio.to_thread(step, *args)


def room_of(stack, identity_prefix: str = "customer-") -> str:
    """The room of the most recent customer the page brought in (the endpoint names it)."""
    rooms = [
        name for name, room in stack.lk.rooms.items()
        if any(p.startswith(identity_prefix) for p in room.participants)
    ]
    assert rooms, "no room has a customer of the page"
    return rooms[-1]


def greeted(page: CustomerPage) -> None:
    page.wait_for_line("agent", GREETING)
    page.wait_until(lambda: page.agent_state() == "listening", "the agent to listen")


# --- the call ---------------------------------------------------------------------------------


async def test_the_page_connects_and_shows_the_greeting(stack, open_page, page_url):
    page = await open_page(page_url)
    await in_browser(page.start_call)
    await in_browser(greeted, page)

    assert page.phase() == "in-call"
    assert page.agent_state_text() == "listening"
    assert page.error() == ""
    # the greeting was streamed into the transcript as it was spoken, then marked final
    changes = [c for c in page.transcript_changes() if c[2] and GREETING.startswith(c[2])]
    assert changes[0][1] == "false" and changes[-1] == (changes[-1][0], "true", GREETING)
    # the microphone is on, and can be muted by its labelled toggle
    assert page.mute_button() == {"text": "Mute microphone", "pressed": "false", "enabled": True}
    await in_browser(page.toggle_mute)
    await in_browser(
        page.wait_until, lambda: page.mute_button()["pressed"] == "true", "the microphone to mute"
    )
    assert page.mute_button()["text"] == "Unmute microphone"
    # and the room hears that the customer's microphone track is muted
    room = stack.lk.rooms[room_of(stack)]
    customer = next(p for name, p in room.participants.items() if name.startswith("customer-"))
    await stack.lk.wait_for(
        lambda: customer.info.tracks and all(t.muted for t in customer.info.tracks),
        10,
        "the mute to reach the room",
    )


async def test_spoken_words_of_both_sides_appear_in_the_transcript(open_page, page_url):
    page = await open_page(page_url, microphone="speech")
    await in_browser(page.start_call)
    await in_browser(greeted, page)

    heard = await in_browser(page.wait_for_line, "customer", "where is my order")
    answer = await in_browser(page.wait_for_line, "agent", SPOKEN_ANSWER)
    assert heard.who == "You" and answer.who == "ShopMe assistant"


async def test_a_typed_question_shows_the_answer(stack, open_page, page_url):
    question = "Do you deliver to Pune on Sundays?"
    page = await open_page(page_url)
    await in_browser(page.start_call)
    await in_browser(greeted, page)

    await in_browser(page.type_message, question)
    answer = await in_browser(page.wait_for_agent_line_after, 1)

    # the question reached the model as the caller's typed turn (this raises if it did not),
    # and the model's reply is on the page after it
    stack.brain.connection_with_text(question)
    assert answer.text == "Is there anything else?"
    lines = page.lines()
    asked = next(i for i, ln in enumerate(lines) if ln.text == question)
    assert (lines[asked].speaker, lines[asked].who) == ("customer", "You (typed)")
    assert lines.index(answer) > asked


async def test_verify_and_order_status_show_the_order_card_with_the_stores_values(
    stack, open_page, page_url
):
    page = await open_page(page_url)
    await in_browser(page.start_call)
    await in_browser(greeted, page)

    await in_browser(page.type_message, VERIFY)
    await in_browser(page.wait_for_line, "agent", "verify_customer is done.")
    await in_browser(page.type_message, ORDER_STATUS)
    shown = await in_browser(
        page.wait_until, lambda: page.order_card(PRIYA_ORDER), "the order card"
    )
    await in_browser(page.wait_for_line, "agent", f"Order {PRIYA_ORDER} is shipped.")
    path = output_dir() / CARD_SCREENSHOT
    path.parent.mkdir(parents=True, exist_ok=True)
    await in_browser(page.driver.save_screenshot, str(path))

    expected = await stack.store.order_card(PRIYA_ORDER)
    assert shown["status"] == expected["status"] and shown["status_text"] == expected["status_text"]
    for field in (
        "placed_on", "shipped_on", "estimated_delivery", "delivered_on", "return_window_ends",
        "carrier", "tracking_number", "total",
    ):
        assert shown.get(field) == expected[field], field
    assert shown["items"] == [
        [item["name"], str(item["quantity"]), item["unit_price"]] for item in expected["items"]
    ]


async def test_a_signed_in_demo_customer_sees_the_card_without_verifying(stack, open_page, page_url):
    page = await open_page(page_url)
    await in_browser(lambda: page.start_call(username="priya", password="shopme-demo"))
    await in_browser(greeted, page)

    await in_browser(page.type_message, ORDER_STATUS)
    shown = await in_browser(page.wait_until, lambda: page.order_card(PRIYA_ORDER), "the order card")
    expected = await stack.store.order_card(PRIYA_ORDER)
    assert shown["tracking_number"] == expected["tracking_number"]
    assert not any("verify_customer" in line.text for line in page.lines())


# --- escalation ---------------------------------------------------------------------------------


async def test_escalation_shows_the_ticket_then_the_person_who_joins(stack, open_page, page_url):
    page = await open_page(page_url)
    await in_browser(page.start_call)
    await in_browser(greeted, page)
    room = room_of(stack)

    await in_browser(page.type_message, ESCALATE)
    payload = await stack.desk.ticket_for(room)
    number = payload["ticket"]
    shown = await in_browser(page.wait_until, page.escalation, "the escalation box")
    assert shown == {
        "ticket": number,
        "step": "person_joining",
        "status": "A person from ShopMe support is joining the call…",
    }
    await in_browser(page.wait_for_line, "agent", f"Your ticket is {number}.")
    ticket = await stack.store.ticket(number)
    assert ticket.room == room

    # the desk person joins with the ticket's join token: the page names them
    name = jwt.decode(payload["join"]["token"], options={"verify_signature": False})["name"]
    async with in_room(room_url(stack.lk, room), payload["join"]["token"], f"human-{number}"):
        joined = await in_browser(
            page.wait_until,
            lambda: (page.escalation() or {}).get("status") == f"{name} has joined the call.",
            "the person's name",
        )
        assert joined
        await in_browser(
            page.wait_until, lambda: page.agent_state() == "left", "the agent to step back"
        )
        assert f"{name} joined the call." in page.notices()
        assert page.error() == ""


# --- ending and failing --------------------------------------------------------------------------


async def test_hang_up_ends_the_call(stack, open_page, page_url):
    page = await open_page(page_url)
    await in_browser(page.start_call)
    await in_browser(greeted, page)
    room = room_of(stack)
    job = stack.lk.jobs_in(room)[0]

    await in_browser(page.hang_up)
    await in_browser(page.wait_until, lambda: page.phase() == "ended", "the call to end")

    assert page.error() == ""
    assert page.driver.find_element("id", "ended-text").text == "Thank you for calling ShopMe."
    # the customer left the room on purpose, and the agent's job ended with it
    await stack.lk.wait_for(
        lambda: not any(p.startswith("customer-") for p in stack.lk.rooms[room].participants),
        10, "the customer to leave",
    )
    await asyncio.wait_for(job.done.wait(), 15)
    assert job.status == agent.JobStatus.JS_SUCCESS
    # the keyboard user lands on the way to call again
    assert page.driver.switch_to.active_element.get_attribute("id") == "again-button"


async def test_a_refused_token_shows_the_error(open_page, page_url):
    page = await open_page(page_url)
    await in_browser(lambda: page.start_call(username="priya", password="wrong-password"))

    error = await in_browser(page.wait_until, page.error, "the error")
    assert error == (
        "The call could not be started: That username and password do not match the demo account."
    )
    assert page.phase() == "idle"


async def test_a_token_the_voice_server_refuses_shows_the_error(stack, open_page, tmp_path):
    with token_endpoint(
        livekit_url=stack.lk.url,
        api_key=stack.lk.api_key,
        api_secret="not-the-double-secret-" + "z" * 20,
        log_path=tmp_path / "endpoint.log",
        AGENT_NAME=AGENT_NAME,
    ) as url:
        page = await open_page(url)
        await in_browser(page.start_call)
        error = await in_browser(page.wait_until, page.error, "the error")
    # A browser cannot read the refused WebSocket's HTTP status; the SDK asks the server's
    # /rtc/validate instead, which this double answers without CORS headers, so the page can only
    # say that the voice service could not be reached (a LiveKit server lets it say "refused").
    assert error == (
        "The voice service could not be reached, so the call could not start. "
        "Please try again in a moment."
    )
    assert page.phase() == "idle"
    assert any(r.reason.startswith("invalid token") for r in stack.lk.refused)


async def test_an_agent_that_never_joins_is_reported(stack, open_page, tmp_path):
    with token_endpoint(
        livekit_url=stack.lk.url,
        api_key=stack.lk.api_key,
        api_secret=stack.lk.api_secret,
        log_path=tmp_path / "endpoint.log",
        AGENT_NAME="nobody-registered-this-name",
        SHOPME_WEB_AGENT_TIMEOUT_S=str(AGENT_TIMEOUT_S),
    ) as url:
        page = await open_page(url)
        await in_browser(page.start_call)
        error = await in_browser(page.wait_until, page.error, "the error")
    assert error == (
        f"The support assistant did not join within {AGENT_TIMEOUT_S} seconds. "
        "Please hang up and try again in a few minutes."
    )
    assert page.agent_state() == "left"


async def test_a_refused_microphone_is_explained_and_typing_still_works(open_page, page_url):
    page = await open_page(page_url, deny_microphone=True)
    await in_browser(page.start_call)
    await in_browser(greeted, page)

    error = await in_browser(page.wait_until, page.error, "the microphone error")
    assert error.startswith("The browser did not allow the microphone")
    assert page.mute_button() == {"text": "Microphone off", "pressed": "false", "enabled": False}
    await in_browser(page.type_message, "Hello, can you read me?")
    answer = await in_browser(page.wait_for_agent_line_after, 1)
    assert answer.text == "Is there anything else?"
