"""Cancelling, changing contact details and booking callbacks."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from support_tools.domain.errors import SupportError
from support_tools.domain.rules import ShopRules
from support_tools.domain.service import SupportService
from support_tools.store.database import Store
from support_tools.store.models import Callback, Cancellation, ContactChange, Customer
from tests.store_fixtures import NOW, order_status, snapshot, verified

# --- cancel_order ---------------------------------------------------------------------------


async def test_processing_order_is_cancelled_with_the_total_refunded(service, store) -> None:
    result = await service.cancel_order(verified(), "710245", "Ordered by mistake")
    assert result["status"] == "cancelled" and result["already_cancelled"] is False
    assert result["refund"] == {"amount": "₹3,197.00", "minor_units": 319700, "currency": "INR"}
    assert await order_status(store, "710245") == "cancelled"
    again = await service.cancel_order(verified(session_id="other"), "710245", "Ordered by mistake")
    assert again["refund"] == result["refund"] and again["already_cancelled"] is True
    async with store.session() as s:
        assert len((await s.scalars(select(Cancellation))).all()) == 1


@pytest.mark.parametrize(("number", "words"), [
    ("482913", "already shipped"), ("488120", "already shipped"), ("517204", "has been delivered"),
])
async def test_shipped_orders_cannot_be_cancelled_and_a_return_is_suggested(service, store, number, words) -> None:
    before = await snapshot(store)
    with pytest.raises(SupportError) as refusal:
        await service.cancel_order(verified(), number, "Too slow")
    assert words in refusal.value.message and "return" in refusal.value.message
    assert await snapshot(store) == before


async def test_concurrent_cancellations_make_one_row(store_url, store, world) -> None:
    url, schema = store_url
    other = await Store.open(url, search_path=schema)
    try:
        results = await asyncio.gather(
            SupportService(store, clock=lambda: NOW).cancel_order(verified(), "710245", "Not needed"),
            SupportService(other, clock=lambda: NOW).cancel_order(verified(), "710245", "Not needed"),
        )
    finally:
        await other.close()
    assert sorted(r["already_cancelled"] for r in results) == [False, True]
    async with store.session() as s:
        assert len((await s.scalars(select(Cancellation))).all()) == 1


# --- update_contact_details ---------------------------------------------------------------------


async def test_email_change_is_stored_audited_and_confirmed_masked(service, store) -> None:
    result = await service.update_contact_details(verified(), "email", " Riya.New@Example.com ")
    assert result["new_value"] == "R***@example.com" and result["changed"] is True
    assert "@example.com" in result["message"] and "Riya.New" not in result["message"]
    async with store.session() as s:
        customer = await s.scalar(select(Customer).where(Customer.public_id == "CUS-00001"))
        [audit] = (await s.scalars(select(ContactChange))).all()
    assert customer.email == "Riya.New@example.com"
    assert (audit.field, audit.old_masked, audit.new_masked) == ("email", "p***@example.com", "R***@example.com")


async def test_phone_change_is_normalised(service, store) -> None:
    result = await service.update_contact_details(verified(), "PHONE", "+91 91234-56789")
    assert result["new_value"] == "******6789"
    async with store.session() as s:
        customer = await s.scalar(select(Customer).where(Customer.public_id == "CUS-00001"))
        [audit] = (await s.scalars(select(ContactChange))).all()
    assert customer.phone == "+919123456789"
    assert audit.old_masked == "******3210" and "9123" not in audit.new_masked


@pytest.mark.parametrize(("field", "value"), [
    ("email", "not-an-email"), ("email", "a@b"), ("email", "x" * 300 + "@example.com"), ("phone", "12345"),
    ("phone", "+1 234 567 890 123 456"), ("phone", "call me maybe"), ("address", "12 MG Road"),
    ("name", "Priya"), ("first_name", "Eve"), (None, "a@example.com"), ("email", None), ("email", 42),
    ("phone", ["+919876543210"]), ({"f": 1}, "x"),
])
async def test_invalid_contact_changes_are_refused_without_a_write(service, store, field, value) -> None:
    before = await snapshot(store)
    with pytest.raises(SupportError):
        await service.update_contact_details(verified(), field, value)
    assert await snapshot(store) == before


# --- schedule_callback --------------------------------------------------------------------------

TOMORROW_3PM_IST = "2026-11-24T15:30:00+05:30"


async def test_callback_inside_hours_uses_the_phone_on_file(service, store) -> None:
    result = await service.schedule_callback(verified(), TOMORROW_3PM_IST, "Refund question")
    assert result["scheduled_for"] == "2026-11-24T15:30+05:30"
    assert result["scheduled_for_utc"] == "2026-11-24T10:00+00:00"
    assert "15:30" in result["local_time"] and result["phone"] == "******3210"
    async with store.session() as s:
        [row] = (await s.scalars(select(Callback))).all()
    assert row.phone == "+919876543210" and row.scheduled_at.utcoffset() == timedelta(0)


async def test_callback_to_another_number_and_any_offset(service, store) -> None:
    # 10:00 in New York is 20:30 in India: inside hours.
    result = await service.schedule_callback(verified(), "2026-11-24T10:00:00-05:00", "Order help", "+1 415 555 0134")
    assert result["scheduled_for"] == "2026-11-24T20:30+05:30" and result["phone"] == "******0134"
    same = await service.schedule_callback(verified(), "2026-11-24T15:00:00Z", "Order help", "+1 415 555 0134")
    assert same["already_booked"] is True


@pytest.mark.parametrize(("when", "words"), [
    ("2026-11-24T15:30:00", "time zone"),          # no offset
    ("2026-11-24", "time zone"),
    ("2026-11-24T08:59:00+05:30", "outside support hours"),
    ("2026-11-24T21:00:00+05:30", "outside support hours"),
    ("2026-11-24T23:30:00+05:30", "outside support hours"),
    ("2026-11-24T15:30:00+00:00", "outside support hours"),  # 21:00 IST
    ("2026-11-22T15:30:00+05:30", "already passed"),
    ("2026-11-23T11:59:00+05:30", "already passed"),
    ("2027-06-01T11:00:00+05:30", "90 days"),
    ("tomorrow at 3", "ISO 8601"),
    ("", "ISO 8601"),
    (None, "ISO 8601"),
    (1764000000, "ISO 8601"),
])
async def test_callback_time_rules(service, store, when, words) -> None:
    before = await snapshot(store)
    with pytest.raises(SupportError) as refusal:
        await service.schedule_callback(verified(), when, "Refund question")
    assert words in refusal.value.message
    assert await snapshot(store) == before


async def test_support_hours_are_configurable(store, world) -> None:
    early = SupportService(store, ShopRules(hours_start=NOW.time().replace(hour=7)), clock=lambda: NOW)
    result = await early.schedule_callback(verified(), "2026-11-24T07:30:00+05:30", "Early call")
    assert result["scheduled_for"].startswith("2026-11-24T07:30")


async def test_callback_needs_a_number_when_none_is_on_file(service, store) -> None:
    with pytest.raises(SupportError) as refusal:
        await service.schedule_callback(verified("CUS-00003"), TOMORROW_3PM_IST, "Question")
    assert "phone number" in refusal.value.message
    result = await service.schedule_callback(verified("CUS-00003"), TOMORROW_3PM_IST, "Question", "+44 20 7946 0958")
    assert result["phone"] == "******0958"


async def test_callback_with_an_invalid_phone_is_refused(service, store) -> None:
    before = await snapshot(store)
    with pytest.raises(SupportError):
        await service.schedule_callback(verified(), TOMORROW_3PM_IST, "Question", "12")
    assert await snapshot(store) == before
