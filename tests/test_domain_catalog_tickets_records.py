"""Products, policies, escalation tickets and conversation records."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from sqlalchemy import select

from support_tools.domain.errors import SupportError
from support_tools.domain.rules import ShopRules
from support_tools.domain.service import SupportService
from support_tools.store.models import ConversationRecord, Ticket
from tests.store_fixtures import NOW, caller, snapshot, verified

TCK = re.compile(r"^TCK-[A-Z0-9]{6,}$")

# --- products -------------------------------------------------------------------------------


async def test_product_by_sku_and_by_name_words(service) -> None:
    by_sku = await service.get_product_info("sm-kurta-blu-m")
    assert by_sku["products"] == [{"sku": "SM-KURTA-BLU-M", "name": "Cotton kurta, blue, M", "price": "₹1,299.00",
                                   "in_stock": True, "stock": 42, "final_sale": False}]
    by_words = await service.get_product_info("Kurta cotton")
    assert [p["sku"] for p in by_words["products"]] == ["SM-KURTA-BLU-M", "SM-KURTA-WHT-L"]
    assert by_words["products"][1]["in_stock"] is False


async def test_like_wildcards_in_a_query_are_literal(service) -> None:
    assert [p["sku"] for p in (await service.get_product_info("100%"))["products"]] == ["SM-MUG-100%"]
    assert (await service.get_product_info("m_g"))["products"] == []  # "_" is not a wildcard
    with pytest.raises(SupportError):
        await service.get_product_info("%%")


async def test_no_match_is_an_answer_not_an_error(service) -> None:
    result = await service.get_product_info("submarine")
    assert result["products"] == [] and "No product" in result["message"]


async def test_results_are_capped(store, world) -> None:
    from support_tools.store.models import Product

    async with store.session(write=True) as s, s.begin():
        s.add_all(Product(sku=f"SM-SOCK-{i}", name=f"Wool socks {i}", price_minor=100, currency="INR", stock=1,
                          final_sale=False) for i in range(9))
    result = await SupportService(store).get_product_info("socks")
    assert len(result["products"]) == 5 and result["more"] is True


# --- policies -------------------------------------------------------------------------------


@pytest.mark.parametrize(("topic", "name"), [
    ("returns", "returns"), ("Refund", "returns"), ("return policy", "returns"), ("DELIVERY", "shipping"),
    ("cancel", "cancellation"), ("privacy", "privacy"), ("warranty", "warranty"), ("UPI", "payment"),
])
def test_policy_topics_and_synonyms(tmp_path, topic, name) -> None:
    for stem in ("returns", "shipping", "cancellation", "privacy", "warranty", "payment"):
        (tmp_path / f"{stem}.md").write_text(f"# {stem} policy text")
    service = SupportService(None, ShopRules(policies_dir=tmp_path))  # type: ignore[arg-type]
    assert service.lookup_policy(topic) == {"topic": name, "text": f"# {name} policy text"}


@pytest.mark.parametrize("topic", ["pets", "../../etc/passwd", "/etc/passwd", "..", "secrets.md", ""])
def test_unknown_topics_list_the_known_ones(tmp_path, topic) -> None:
    (tmp_path / "returns.md").write_text("r")
    (tmp_path / "shipping.md").write_text("s")
    (tmp_path.parent / "passwd.md").write_text("must never be read")
    result = SupportService(None, ShopRules(policies_dir=tmp_path)).lookup_policy(topic)  # type: ignore[arg-type]
    assert result["topic"] is None and result["known_topics"] == ["returns", "shipping"]
    assert "never" not in json.dumps(result)


def test_the_shop_policies_folder_is_read_by_default() -> None:
    result = SupportService(None).lookup_policy("returns")  # type: ignore[arg-type]
    assert result["topic"] == "returns" and "30" in result["text"]


@pytest.mark.parametrize("topic", [None, 42, ["returns"], "x" * 10_000])
def test_policy_topic_of_the_wrong_type(tmp_path, topic) -> None:
    with pytest.raises(SupportError):
        SupportService(None, ShopRules(policies_dir=tmp_path)).lookup_policy(topic)  # type: ignore[arg-type]


# --- tickets --------------------------------------------------------------------------------

CONVERSATION = [
    {"role": "user", "text": "My number is +91 98765 43210 and mail priya.sharma@example.com", "at": "2026-11-23T06:30:00+00:00"},
    {"role": "tool", "tool": "verify_customer", "arguments": '{"order_number":"482913"}', "outcome": "ok", "output": "{}"},
]


async def test_one_ticket_per_session(service, store) -> None:
    me = verified()
    ticket, created = await service.open_ticket(me, "Wants a person", "high", "Caller said: call +919876543210", CONVERSATION)
    assert created and TCK.match(ticket["ticket"]) and me.ticket_number == ticket["ticket"]
    assert ticket["customer"] == {"id": "CUS-00001", "first_name": "Priya"}
    assert ticket["urgency"] == "high" and ticket["room"] == "room-1" and ticket["status"] == "open"
    assert "9876543210" not in json.dumps(ticket) and "priya.sharma@" not in json.dumps(ticket)
    assert "482913" in json.dumps(ticket["conversation"])
    again, created_again = await service.open_ticket(me, "Again", "low", "", [])
    assert again["ticket"] == ticket["ticket"] and created_again is False
    other, created_other = await service.open_ticket(caller("session-2"), "Unverified caller", None, "", [])
    assert created_other and other["ticket"] != ticket["ticket"] and other["customer"] is None
    assert other["urgency"] == "normal"


async def test_concurrent_escalations_in_one_session_make_one_ticket(store_url, store, world) -> None:
    from support_tools.store.database import Store

    url, schema = store_url
    other = await Store.open(url, search_path=schema)
    try:
        a, b = caller("same"), caller("same")
        results = await asyncio.gather(
            SupportService(store, clock=lambda: NOW).open_ticket(a, "Help", "normal", "", []),
            SupportService(other, clock=lambda: NOW).open_ticket(b, "Help", "normal", "", []),
        )
    finally:
        await other.close()
    assert results[0][0]["ticket"] == results[1][0]["ticket"]
    assert sorted(created for _, created in results) == [False, True]
    async with store.session() as s:
        assert len((await s.scalars(select(Ticket))).all()) == 1


@pytest.mark.parametrize(("reason", "urgency"), [("", "high"), (None, "normal"), ("Help", "urgent!"), ("😡", "high"),
                                                 ("x" * 501, "low"), ("Help", 3)])
async def test_invalid_ticket_arguments_are_refused_without_a_write(service, store, reason, urgency) -> None:
    before = await snapshot(store)
    with pytest.raises(SupportError):
        await service.open_ticket(caller(), reason, urgency, "", [])
    assert await snapshot(store) == before


async def test_delivery_attempts_are_appended_to_the_ticket(service) -> None:
    ticket, _ = await service.open_ticket(caller(), "Help", "normal", "", [])
    await service.record_ticket_delivery(ticket["ticket"], {"attempt": 1, "at": "2026-11-23T06:31:00+00:00",
                                                            "status": 503, "error": "HTTP 503", "delivered": False})
    await service.record_ticket_delivery(ticket["ticket"], {"attempt": 2, "at": "2026-11-23T06:31:02+00:00",
                                                            "status": 200, "error": None, "delivered": True})
    stored = await service.get_ticket(ticket["ticket"])
    assert stored["delivery_attempts"] == [
        {"attempt": 1, "at": "2026-11-23T06:31:00+00:00", "status": 503, "error": "HTTP 503", "delivered": False},
        {"attempt": 2, "at": "2026-11-23T06:31:02+00:00", "status": 200, "error": None, "delivered": True},
    ]
    assert await service.get_ticket("TCK-NOSUCH00") is None
    with pytest.raises(SupportError):
        await service.record_ticket_delivery("TCK-NOSUCH00", {"attempt": 1})


# --- conversation records -------------------------------------------------------------------


async def test_record_is_saved_with_phones_and_emails_masked(service, store) -> None:
    record = {
        "session_id": "session-1", "room": "room-1", "customer_id": "CUS-00001",
        "started_at": "2026-11-23T06:00:00+00:00", "ended_at": "2026-11-23T06:05:30+00:00", "duration_s": 330.0,
        "outcome": "escalated", "ticket_number": "TCK-ABCDEF12",
        "transcript": [
            {"role": "user", "text": "Call me on +91 98765 43210 about order 482913, PIN 560001", "at": "2026-11-23T06:01:00+00:00"},
            {"role": "tool", "tool": "update_contact_details", "arguments": '{"field":"email","value":"priya.new@example.com"}',
             "outcome": "ok", "output": '{"new_value":"p***@example.com"}', "at": "2026-11-23T06:02:00+00:00"},
        ],
        "usage": {"azure/gpt-realtime": {"input_tokens": 1200, "output_tokens": 300}},
    }
    record_id = await service.save_conversation_record(record)
    stored = await service.get_conversation_record(record_id)
    text = json.dumps(stored)
    assert "98765 43210" not in text and "9876543210" not in text and "priya.new@" not in text
    assert "******3210" in text and "p***@example.com" in text
    assert "482913" in text and "560001" in text  # order numbers and PIN codes stay readable
    assert stored["transcript"][0]["at"] == "2026-11-23T06:01:00+00:00"
    assert stored["outcome"] == "escalated" and stored["duration_s"] == 330.0
    assert stored["usage"] == record["usage"] and stored["ticket_number"] == "TCK-ABCDEF12"
    listed = await service.list_conversation_records()
    assert [r["id"] for r in listed] == [record_id] and listed[0]["entries"] == 2
    async with store.session() as s:
        row = await s.get(ConversationRecord, record_id)
    assert row.started_at.tzinfo is not None and "9876543210" not in json.dumps(row.transcript)


async def test_records_are_listed_newest_first(service) -> None:
    ids = []
    for minute in (1, 3, 2):
        ids.append(await service.save_conversation_record(
            {"session_id": f"s{minute}", "started_at": f"2026-11-23T06:0{minute}:00+00:00", "transcript": []}))
    listed = await service.list_conversation_records(limit=2)
    assert [r["session_id"] for r in listed] == ["s3", "s2"]
    assert await service.get_conversation_record("REC-NOPE") is None
