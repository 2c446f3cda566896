"""The agent greets the caller exactly once: on entering the session, before anything is said."""

from __future__ import annotations

from support_tools.voice.agent import SupportAgent
from support_tools.voice.prompts import greeting_instructions
from tests.fake_azure import audio as pcm
from tests.fake_azure import fixtures
from tests.fake_azure.fixtures import (
    agent_session,
    wait_until,
)

GREETING = "Welcome to ShopMe support. How can I help you today?"

# the fake service and an HTTP session for the model (pytest fixtures)
fake_azure = fixtures.fake_azure
http_session = fixtures.http_session


def greeting_requests(fake, settings) -> list[dict]:
    wanted = greeting_instructions(settings)
    return [
        event
        for event in fake.events("response.create")
        if wanted in (event["response"].get("instructions") or "")
    ]


async def test_greeting_is_the_first_reply_and_is_not_repeated_after_typed_turns(
    fake_azure, http_session
):
    fake = fake_azure
    fake.script.say(GREETING).say("Of course, ask away.").say("You're welcome.")

    async with agent_session(fake, http_session, capture_run=True) as run:
        greeted = await run.start_result
        await run.session.run(user_input="Hi, I have a question.")
        await run.session.run(user_input="Thanks!")

    greeted.expect.next_event().is_agent_handoff(new_agent_type=SupportAgent)
    said = greeted.expect.next_event().is_message(role="assistant").event().item
    assert said.text_content == GREETING
    greeted.expect.no_more_events()
    requests = greeting_requests(fake, run.settings)
    assert len(requests) == 1
    assert fake.client_events.index(requests[0]) < fake.client_events.index(
        fake.events("conversation.item.create")[0]
    )  # asked for before the caller's first words reached the model
    assert len(fake.events("response.create")) == 3  # greeting + one per typed turn
    assert [m.text_content for m in run.messages("assistant")] == [
        GREETING,
        "Of course, ask away.",
        "You're welcome.",
    ]


async def test_greeting_is_not_repeated_after_a_spoken_turn(fake_azure, http_session):
    fake = fake_azure
    fake.script.say(GREETING, audio_ms=300).transcribe("where is my order").say("Let me check.")

    async with agent_session(fake, http_session, spoken=True) as run:
        await wait_until(lambda: len(run.speaker.playbacks) == 1, what="the greeting to play out")
        await run.microphone.say(pcm.tone(600, frequency=300), pcm.WIRE_RATE)
        await wait_until(lambda: len(run.messages("assistant")) == 2, what="the answer")

    assert len(greeting_requests(fake, run.settings)) == 1
    assert [m.text_content for m in run.messages("assistant")] == [GREETING, "Let me check."]
    assert [r.trigger for r in fake.responses] == ["response.create", "server_vad"]
