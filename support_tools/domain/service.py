"""`SupportService`: the shop's rules behind every tool, one method per tool. No livekit import.

Every argument arrives as `object` from the model and is checked before any database work; a
refusal is a `SupportError` whose message the agent can say back. Each operation runs in one
transaction, so a refusal or a failure never leaves a partial write behind.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..store.database import Store
from . import (
    callbacks,
    cancellations,
    contacts,
    orders,
    policies,
    products,
    records,
    returns,
    tickets,
    verification,
)
from .caller import CallerState
from .rules import DEFAULT_RULES, ShopRules, utc_now
from .store_faults import answers_in_time


class SupportService:
    def __init__(self, store: Store, rules: ShopRules = DEFAULT_RULES, clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.rules = rules
        self._clock = clock

    def now(self) -> datetime:
        moment = self._clock()
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    # --- identity ---------------------------------------------------------------------------
    @answers_in_time
    async def verify_customer(self, caller: CallerState, order_number: object, postal_code: object) -> dict[str, Any]:
        return await verification.verify_customer(
            self.store, caller, order_number, postal_code, self.rules, self.now()
        )

    # Not a tool: a store fault stays an exception, which the worker logs as such.
    async def trust_customer(self, caller: CallerState, customer_id: object) -> dict[str, Any]:
        return await verification.trust_customer(self.store, caller, customer_id, self.rules)

    # --- orders and returns -----------------------------------------------------------------
    @answers_in_time
    async def get_order_status(self, caller: CallerState, order_number: object) -> dict[str, Any]:
        return await orders.get_order_status(self.store, self.rules, self.now(), caller, order_number)

    @answers_in_time
    async def start_return(
        self, caller: CallerState, order_number: object, sku: object, reason: object, quantity: object = 1
    ) -> dict[str, Any]:
        return await returns.start_return(
            self.store, self.rules, self.now(), caller, order_number, sku, reason, quantity
        )

    @answers_in_time
    async def cancel_order(self, caller: CallerState, order_number: object, reason: object) -> dict[str, Any]:
        return await cancellations.cancel_order(self.store, self.rules, self.now(), caller, order_number, reason)

    @answers_in_time
    async def update_contact_details(self, caller: CallerState, field: object, value: object) -> dict[str, Any]:
        return await contacts.update_contact_details(self.store, self.now(), caller, field, value)

    @answers_in_time
    async def schedule_callback(
        self, caller: CallerState, when: object, reason: object, phone: object = None
    ) -> dict[str, Any]:
        return await callbacks.schedule_callback(self.store, self.rules, self.now(), caller, when, reason, phone)

    # --- open to every caller ---------------------------------------------------------------
    @answers_in_time
    async def get_product_info(self, query: object) -> dict[str, Any]:
        return await products.get_product_info(self.store, query)

    def lookup_policy(self, topic: object) -> dict[str, Any]:
        return policies.lookup_policy(self.rules.policies_dir, topic)

    # --- escalation tickets -----------------------------------------------------------------
    @answers_in_time
    async def open_ticket(
        self, caller: CallerState, reason: object, urgency: object, summary: str, conversation: list[dict]
    ) -> tuple[dict[str, Any], bool]:
        return await tickets.open_ticket(self.store, self.now(), caller, reason, urgency, summary, conversation)

    @answers_in_time
    async def open_outage_callback(
        self, caller: CallerState, summary: str, conversation: list[dict]
    ) -> dict[str, Any] | None:
        """A callback ticket after the voice model failed mid-call (verified callers with a phone)."""
        return await tickets.open_outage_callback(self.store, self.now(), caller, summary, conversation)

    async def record_ticket_delivery(self, ticket_number: str, attempt: dict) -> None:
        await tickets.record_delivery(self.store, self.now(), ticket_number, attempt)

    async def record_ticket_handoff(self, ticket_number: str, outcome: str) -> None:
        """`outcome`: human_joined, transferred or callback_offered (the ticket stays open)."""
        await tickets.record_handoff(self.store, ticket_number, outcome)

    async def get_ticket(self, ticket_number: str) -> dict[str, Any] | None:
        return await tickets.get_ticket(self.store, ticket_number)

    # --- conversation records ---------------------------------------------------------------
    async def save_conversation_record(self, record: dict) -> str:
        return await records.save_record(self.store, self.now(), record)

    async def list_conversation_records(self, limit: int = 20) -> list[dict[str, Any]]:
        return await records.list_records(self.store, limit)

    async def get_conversation_record(self, record_id: str) -> dict[str, Any] | None:
        return await records.get_record(self.store, record_id)
