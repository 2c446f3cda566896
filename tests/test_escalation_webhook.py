"""The signed escalation notification: payload, signature, background delivery and retries."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from datetime import UTC, datetime

import pytest
from aiohttp import web

from support_tools.escalation import (
    SIGNATURE_HEADER,
    WebhookNotifier,
    build_payload,
    sign,
    verify_signature,
)
from tests.loopback import serve_on_loopback

SECRET = "whsec-test-" + "s" * 24
JOIN_TOKEN = "eyJhbGciOiJIUzI1NiJ9.join-token-under-test.signature"


def ticket(**overrides):
    base = {
        "number": "TCK-7QX2M9",
        "reason": "Parcel marked delivered but never arrived",
        "urgency": "high",
        "room": "call-123",
        "customer_id": "CUS-00042",
        "summary": "Order 482913 shows delivered; caller has nothing.",
        "created_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        "conversation": [{"role": "user", "text": "my email is ravi@example.com"}],
        "api_secret": "must-never-leave",
    }
    base.update(overrides)
    return base


def join():
    return {"url": "https://desk.example/join?t=abc", "token": JOIN_TOKEN}


class Receiver:
    """An aiohttp webhook receiver on 127.0.0.1 that answers with a scripted list of statuses."""

    def __init__(self, statuses, headers=None):
        self.statuses = list(statuses)
        self.extra_headers = headers or {}
        self.bodies: list[bytes] = []
        self.signature_ok: list[bool] = []
        self.delivery_ids: list[str] = []
        self.received = asyncio.Event()
        self.release: asyncio.Event | None = None
        self.responded = False
        self._runner = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.bodies.append(body)
        self.signature_ok.append(
            verify_signature(body, request.headers.get(SIGNATURE_HEADER), SECRET)
        )
        self.delivery_ids.append(request.headers.get("X-ShopMe-Delivery", ""))
        self.received.set()
        if self.release is not None:
            await self.release.wait()
        status = self.statuses.pop(0) if self.statuses else 200
        self.responded = True
        return web.Response(status=status, headers=self.extra_headers if status != 200 else None)

    async def __aenter__(self):
        app = web.Application()
        app.router.add_post("/hooks/escalation", self.handle)
        self._runner, port = await serve_on_loopback(app)
        self.url = f"http://127.0.0.1:{port}/hooks/escalation"
        return self

    async def __aexit__(self, *exc):
        if self.release is not None:
            self.release.set()
        await self._runner.cleanup()


class Attempts(list):
    async def __call__(self, attempt: dict) -> None:
        self.append(attempt)


def fast_notifier(url, attempts, **overrides):
    options = {"max_attempts": 5, "base_delay_s": 0.001, "max_delay_s": 0.01, "timeout_s": 2.0}
    options.update(overrides)
    return WebhookNotifier(url, SECRET, on_attempt=attempts, **options)


# -- payload ------------------------------------------------------------------------------------


def test_payload_carries_the_ticket_and_the_way_into_the_room():
    payload = build_payload(ticket(), join())
    assert payload["ticket"] == "TCK-7QX2M9"
    assert payload["reason"] == "Parcel marked delivered but never arrived"
    assert payload["urgency"] == "high"
    assert payload["room"] == "call-123"
    assert payload["customer"] == {"id": "CUS-00042"}
    assert payload["summary"].startswith("Order 482913")
    assert payload["created_at"] == "2025-01-02T03:04:05+00:00"
    assert payload["join"] == {"url": "https://desk.example/join?t=abc", "token": JOIN_TOKEN}


def test_payload_leaves_out_everything_not_on_the_allow_list():
    text = json.dumps(build_payload(ticket(), join()))
    assert "must-never-leave" not in text
    assert "ravi@example.com" not in text


def test_payload_customer_is_null_for_an_unverified_caller():
    payload = build_payload(ticket(customer_id=None), join())
    assert payload["customer"] is None


@pytest.mark.parametrize("bad", [{"number": "482913"}, {"number": None}, {"urgency": "panic"}])
def test_payload_rejects_an_invalid_ticket(bad):
    with pytest.raises(ValueError):
        build_payload(ticket(**bad), join())


# -- signature ----------------------------------------------------------------------------------


def test_signature_verifies_only_the_exact_body_and_secret():
    body = b'{"ticket":"TCK-7QX2M9"}'
    header = sign(body, SECRET)
    assert header.startswith("sha256=") and len(header) == len("sha256=") + 64
    assert verify_signature(body, header, SECRET)
    assert not verify_signature(body + b" ", header, SECRET)
    assert not verify_signature(body, header, SECRET + "x")
    assert not verify_signature(body, None, SECRET)
    assert not verify_signature(body, "sha256=deadbeef", SECRET)


# -- delivery -----------------------------------------------------------------------------------


async def test_two_server_errors_then_success_is_three_attempts_with_the_same_signed_body():
    attempts = Attempts()
    async with Receiver([500, 500, 200]) as receiver:
        notifier = fast_notifier(receiver.url, attempts)
        result = await notifier.notify(build_payload(ticket(), join()))
        await notifier.aclose()

    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["status"] for a in attempts] == [500, 500, 200]
    assert [a["delivered"] for a in attempts] == [False, False, True]
    assert attempts[0]["error"] == "HTTP 500" and attempts[-1]["error"] is None
    assert result["delivered"] is True
    assert all(receiver.signature_ok) and len(receiver.bodies) == 3
    assert len(set(receiver.bodies)) == 1 and len(set(receiver.delivery_ids)) == 1
    delivered = json.loads(receiver.bodies[-1])
    assert delivered["ticket"] == "TCK-7QX2M9" and delivered["join"]["token"] == JOIN_TOKEN
    for attempt in attempts:
        assert set(attempt) == {"attempt", "at", "status", "error", "delivered"}
        assert datetime.fromisoformat(attempt["at"]).tzinfo is not None
        assert SECRET not in json.dumps(attempt) and JOIN_TOKEN not in json.dumps(attempt)


async def test_a_client_error_is_final():
    attempts = Attempts()
    async with Receiver([400, 200]) as receiver:
        notifier = fast_notifier(receiver.url, attempts)
        result = await notifier.notify(build_payload(ticket(), join()))
        await notifier.aclose()
    assert len(receiver.bodies) == 1
    assert attempts == [result]
    assert result["status"] == 400 and result["delivered"] is False


async def test_too_many_requests_is_retried():
    attempts = Attempts()
    async with Receiver([429, 200], headers={"Retry-After": "0"}) as receiver:
        notifier = fast_notifier(receiver.url, attempts)
        result = await notifier.notify(build_payload(ticket(), join()))
        await notifier.aclose()
    assert [a["status"] for a in attempts] == [429, 200]
    assert result["delivered"] is True


async def test_an_unreachable_desk_is_retried_up_to_the_limit_without_naming_it():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    attempts = Attempts()
    notifier = fast_notifier(
        f"http://127.0.0.1:{closed_port}/hook?key=url-secret", attempts, max_attempts=3
    )
    result = await notifier.notify(build_payload(ticket(), join()))
    await notifier.aclose()
    assert len(attempts) == 3 and result["delivered"] is False
    assert all(a["status"] is None and a["error"].startswith("connection error") for a in attempts)
    assert "url-secret" not in json.dumps(attempts) and "127.0.0.1" not in json.dumps(attempts)


async def test_notify_returns_before_the_desk_answers():
    attempts = Attempts()
    async with Receiver([200]) as receiver:
        receiver.release = asyncio.Event()
        notifier = fast_notifier(receiver.url, attempts)
        task = notifier.notify(build_payload(ticket(), join()))
        assert not task.done()  # the conversation goes on right away
        await receiver.received.wait()
        assert not receiver.responded and not task.done() and attempts == []
        receiver.release.set()
        result = await task
        await notifier.aclose()
    assert result["delivered"] is True


async def test_later_changes_to_the_payload_are_not_sent():
    async with Receiver([200]) as receiver:
        notifier = fast_notifier(receiver.url, Attempts())
        payload = build_payload(ticket(), join())
        task = notifier.notify(payload)
        payload["summary"] = "changed afterwards"
        await task
        await notifier.aclose()
    assert json.loads(receiver.bodies[0])["summary"].startswith("Order 482913")


async def test_shutdown_cancels_a_stuck_delivery_and_refuses_new_ones():
    async with Receiver([200]) as receiver:
        receiver.release = asyncio.Event()  # never set while the notifier closes
        notifier = fast_notifier(receiver.url, Attempts())
        task = notifier.notify(build_payload(ticket(), join()))
        await receiver.received.wait()
        await notifier.aclose(grace_s=0.05)
        assert task.cancelled()
        with pytest.raises(RuntimeError):
            notifier.notify(build_payload(ticket(), join()))


async def test_a_failing_attempt_recorder_does_not_stop_delivery():
    async def broken_recorder(_attempt):
        raise RuntimeError("database down")

    async with Receiver([500, 200]) as receiver:
        notifier = WebhookNotifier(
            receiver.url, SECRET, base_delay_s=0.001, max_delay_s=0.01, on_attempt=broken_recorder
        )
        result = await notifier.notify(build_payload(ticket(), join()))
        await notifier.aclose()
    assert result["delivered"] is True and len(receiver.bodies) == 2


async def test_logs_never_contain_the_secret_signature_or_token(caplog):
    caplog.set_level(logging.DEBUG)
    payload = build_payload(ticket(), join())
    async with Receiver([503, 500, 200]) as receiver:
        notifier = fast_notifier(receiver.url, Attempts())
        await notifier.notify(payload)
        await notifier.aclose()
    signature = sign(receiver.bodies[0], SECRET)
    assert "TCK-7QX2M9" in caplog.text  # the logs are there, and useful
    for secret in (SECRET, signature, signature.removeprefix("sha256="), JOIN_TOKEN):
        assert secret not in caplog.text
    assert SECRET not in repr(notifier)
