"""Issue 8.6: hypothesis over every tool's arguments against `SupportService`, on SQLite and on
PostgreSQL: no unhandled exception, no write from a refused call, every refusal a sentence of
the project's. The arguments arrive as the model would send them: as the raw text of the call
(read strictly, voice/tool_arguments.py) and as any JSON value in any parameter.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from support_tools.domain.callbacks import EXAMPLE as EXAMPLE_TIME
from support_tools.domain.caller import CallerState
from support_tools.domain.errors import SupportError
from support_tools.domain.rules import ShopRules
from support_tools.domain.service import SupportService
from support_tools.domain.verification import VERIFY_FAILED, VERIFY_THROTTLED
from support_tools.store.database import Store
from support_tools.voice.tool_arguments import ArgumentsRefused, read_arguments
from support_tools.voice.tools import ALL_TOOLS
from tests.store_fixtures import NOW, backend_url, build_world, empty_tables, snapshot

PARAMETERS = {tool.info.name: tool.parameters for tool in ALL_TOOLS}
LIBRARY_WORDS = ("Traceback", "pydantic", "sqlalchemy", "asyncpg", "sqlite", "Error", "errors.", "object at 0x")
# Values a model plausibly sends, so the fuzzing also gets past the first checks.
PLAUSIBLE = st.sampled_from([
    "482913", "517204", "710245", "640233", "300125", "SM-482913", "४८२९१३", 482913, 710245,
    "560001", "110001", "SW1A 1AA", "SM-TSHIRT-BLK-M", "SM-TSHIRT-WHT-L", "SM-KURTA-BLU-M",
    "email", "phone", "EMAIL", "priya.new@example.com", "+91 98765 22222", "+1(415)555-0134",
    "2026-11-24T15:30:00+05:30", "2026-11-23T20:45:00+05:30", "returns", "shipping", "kurta",
    "too small", "changed my mind", "low", "normal", "high", 1, 2, 3, 0, -1, 1.0, True, None,
])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=60),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)
VALUES = st.one_of(PLAUSIBLE, PLAUSIBLE, JSON_VALUES)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def tool_calls(draw) -> tuple[str, dict[str, Any]]:
    tool = draw(st.sampled_from(sorted(PARAMETERS)))
    names = PARAMETERS[tool].names
    arguments = {name: draw(VALUES) for name in names if draw(st.integers(0, 9)) > 0}  # sometimes one is missing
    if draw(st.integers(0, 9)) == 0:
        arguments[draw(st.text(min_size=1, max_size=8))] = draw(VALUES)  # sometimes one it does not take
    return tool, arguments


@st.composite
def raw_texts(draw) -> tuple[str, str]:
    """The call's arguments as text: valid JSON, or cut short, or with something after it."""
    tool, arguments = draw(tool_calls())
    text = json.dumps(arguments, ensure_ascii=draw(st.booleans()))
    damage = draw(st.sampled_from(["none", "none", "cut", "append"]))
    if damage == "cut":
        text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
    elif damage == "append":
        text += draw(st.sampled_from([" garbage", "}", ', "x": 1}', " {}", "\n{", "]"]))
    return tool, text


async def call_service(service: SupportService, tool: str, arguments: dict[str, Any], session: int) -> Any:
    """What each tool hands to the service (support_tools/voice/tools/)."""
    me = CallerState(session_id=f"fuzz-{session}", customer_id="CUS-00001")
    fresh = CallerState(session_id=f"fuzz-new-{session}")
    a = arguments
    if tool == "verify_customer":
        return await service.verify_customer(fresh, a["order_number"], a["postal_code"])
    if tool == "get_order_status":
        return await service.get_order_status(me, a["order_number"])
    if tool == "start_return":
        return await service.start_return(me, a["order_number"], a["sku"], a["reason"], a["quantity"])
    if tool == "cancel_order":
        return await service.cancel_order(me, a["order_number"], a["reason"])
    if tool == "update_contact_details":
        return await service.update_contact_details(me, a["field"], a["value"])
    if tool == "schedule_callback":
        return await service.schedule_callback(me, a["when"], a["reason"], a["phone"])
    if tool == "get_product_info":
        return await service.get_product_info(a["query"])
    if tool == "lookup_policy":
        return service.lookup_policy(a["topic"])
    if tool == "escalate_to_human":
        ticket, _ = await service.open_ticket(fresh, a["reason"], a["urgency"], "", [])
        return ticket
    raise AssertionError(f"no service call for {tool}")


def assert_projects_sentence(message: object) -> None:
    assert isinstance(message, str) and 10 < len(message) < 600, message
    assert message[0].isupper() and message.rstrip().endswith((".", ")")), message
    assert not any(word in message for word in LIBRARY_WORDS), message


class Fuzzer:
    """One store for all examples of a backend; each example checks its own call."""

    def __init__(self, backend: str, tmp_path, pg_schema) -> None:
        self.runner = asyncio.Runner()
        url, schema = backend_url(backend, tmp_path, pg_schema)
        self.store = self.runner.run(Store.open(url, search_path=schema))
        self.runner.run(empty_tables(self.store))
        self.runner.run(build_world(self.store))
        self.service = SupportService(self.store, ShopRules(), clock=lambda: NOW)
        self.sessions = 0
        self.refused = self.answered = 0

    def check(self, tool: str, arguments: dict[str, Any] | None, raw: str | None = None) -> None:
        self.sessions += 1
        before = self.runner.run(snapshot(self.store))
        try:
            if raw is not None:
                arguments = read_arguments(PARAMETERS[tool], raw)
            result = self.runner.run(call_service(self.service, tool, arguments, self.sessions))
        except (SupportError, ArgumentsRefused) as refusal:
            self.refused += 1
            assert_projects_sentence(refusal.message)
            # (a value that is the project's own example time is in a refusal because the project
            # wrote it there, not because it was echoed)
            echoed = [v for v in (arguments or {}).values() if isinstance(v, str) and len(v.strip()) >= 12
                      and v.strip() in refusal.message and v.strip() not in EXAMPLE_TIME]
            assert not echoed, f"the refusal repeats the input: {refusal.message}"
            after = self.runner.run(snapshot(self.store))
            if refusal.message in (VERIFY_FAILED, VERIFY_THROTTLED):
                # a wrong guess is counted on purpose (throttling across sessions): only that
                for counts in (before["counts"], after["counts"]):
                    counts.pop("verification_failures"), counts.pop("verification_locks")
            assert after == before, f"{tool} refused but wrote"
            return
        self.answered += 1
        json.dumps(result)  # a tool's output is JSON

    def close(self) -> None:
        self.runner.run(self.store.close())
        self.runner.close()


@pytest.fixture
def fuzzer(backend, tmp_path, pg_schema):
    fuzzer = Fuzzer(backend, tmp_path, pg_schema)
    yield fuzzer
    fuzzer.close()


def test_any_json_value_in_any_parameter(fuzzer) -> None:
    @FUZZ
    @given(tool_calls())
    @example(("get_product_info", {"query": "kurta"}))  # both paths, whatever is generated
    @example(("get_order_status", {"order_number": "not a number"}))
    def run(call) -> None:
        tool, arguments = call
        missing = [name for name in PARAMETERS[tool].required if name not in arguments]
        full = {**PARAMETERS[tool].defaults, **arguments}
        if missing:  # the strict reading refuses these before the service: see the next test
            return
        fuzzer.check(tool, {name: full[name] for name in PARAMETERS[tool].names})

    run()
    assert fuzzer.refused and fuzzer.answered  # both paths were exercised


def test_any_arguments_text_through_the_strict_reading(fuzzer) -> None:
    @FUZZ
    @given(raw_texts())
    @example(("lookup_policy", '{"topic": "returns"}'))  # both paths, whatever is generated
    @example(("cancel_order", '{"order_number": "710245", "reason": "ordered tw'))
    def run(call) -> None:
        tool, raw = call
        fuzzer.check(tool, None, raw)

    run()
    assert fuzzer.refused and fuzzer.answered
