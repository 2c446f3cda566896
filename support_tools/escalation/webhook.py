"""Signed, retried, fire-and-forget delivery of the escalation notification.

The conversation never waits for the desk: `notify()` schedules the delivery and returns. Each
attempt is reported to `on_attempt` so the ticket keeps a delivery history. The URL, the secret,
the signature and the join token never reach logs or attempt records (a webhook URL itself
often embeds a credential).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

logger = logging.getLogger("shopme.escalation.webhook")

SIGNATURE_HEADER = "X-ShopMe-Signature"
DELIVERY_HEADER = "X-ShopMe-Delivery"
EVENT_HEADER = "X-ShopMe-Event"
SIGNATURE_PREFIX = "sha256="
# Statuses that mean "try again later"; every other non-2xx is the receiver's final answer.
RETRYABLE_4XX = frozenset({408, 429})
DEFAULT_CLOSE_GRACE_S = 2.0

AttemptCallback = Callable[[dict[str, Any]], Awaitable[None]]


def sign(body: bytes, secret: str) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the exact request body with the shared secret."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """For receivers: True when `header` is the signature of the raw `body` (constant time)."""
    if not header or not secret:
        return False
    return hmac.compare_digest(sign(body, secret).encode(), header.strip().encode())


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes that are signed and sent (compact UTF-8 JSON)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class WebhookNotifier:
    """Delivers escalation payloads to the support desk in the background.

    Retries, with exponential backoff and jitter, on connection errors, timeouts, 5xx, 408 and
    429 (a small `Retry-After` is honoured); any other status is final. Redirects are not
    followed, so a signed payload never travels somewhere the operator did not configure.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        http_session: aiohttp.ClientSession | None = None,
        max_attempts: int = 5,
        base_delay_s: float = 0.5,
        max_delay_s: float = 8.0,
        timeout_s: float = 5.0,
        on_attempt: AttemptCallback | None = None,
    ) -> None:
        if not url or not secret:
            raise ValueError("a webhook URL and a signing secret are both required")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._url = url
        self._secret = secret
        self._session = http_session
        self._owns_session = http_session is None
        self._max_attempts = max_attempts
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._on_attempt = on_attempt
        self._tasks: set[asyncio.Task[dict[str, Any]]] = set()
        self._closed = False

    def __repr__(self) -> str:  # keeps URL and secret out of debug output
        return f"WebhookNotifier(in_flight={len(self._tasks)}, closed={self._closed})"

    def notify(
        self, payload: Mapping[str, Any], *, on_attempt: AttemptCallback | None = None
    ) -> asyncio.Task[dict[str, Any]]:
        """Schedule delivery of `payload` and return at once.

        The task's result is the last attempt record. `on_attempt` overrides the notifier's
        callback for this payload (useful when one notifier serves many tickets).
        """
        if self._closed:
            raise RuntimeError("the escalation notifier is closed")
        body = encode_body(payload)  # frozen now: later changes to the dict are not sent
        label = str(payload.get("ticket", "?"))
        callback = on_attempt or self._on_attempt
        task = asyncio.get_running_loop().create_task(
            self._deliver(body, label, callback), name=f"escalation-webhook-{label}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self, grace_s: float = DEFAULT_CLOSE_GRACE_S) -> None:
        """Give in-flight deliveries up to `grace_s` to finish, cancel the rest, release HTTP."""
        self._closed = True
        pending = set(self._tasks)
        if pending:
            _, still_running = await asyncio.wait(pending, timeout=grace_s)
            for task in still_running:
                task.cancel()
            await asyncio.gather(*still_running, return_exceptions=True)
            if still_running:
                logger.warning(
                    "escalation webhook: %d delivery(ies) cancelled on shutdown", len(still_running)
                )
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def _deliver(
        self, body: bytes, label: str, on_attempt: AttemptCallback | None
    ) -> dict[str, Any]:
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, self._secret),
            EVENT_HEADER: "escalation.created",
            # Same id on every retry, so the desk can drop duplicates.
            DELIVERY_HEADER: str(uuid.uuid4()),
        }
        record: dict[str, Any] = {}
        for attempt in range(1, self._max_attempts + 1):
            record, retry_after = await self._attempt(attempt, body, headers)
            await _report(on_attempt, record)
            if record["delivered"]:
                logger.info("escalation webhook for %s delivered (attempt %d)", label, attempt)
                return record
            retryable = retry_after is not None
            if not retryable or attempt == self._max_attempts:
                break
            delay = self._delay(attempt, retry_after)
            logger.warning(
                "escalation webhook for %s failed (attempt %d: %s); retrying in %.2fs",
                label,
                attempt,
                record["error"],
                delay,
            )
            await asyncio.sleep(delay)
        logger.error(
            "escalation webhook for %s not delivered after %d attempt(s): %s",
            label,
            record.get("attempt", 0),
            record.get("error"),
        )
        return record

    async def _attempt(
        self, attempt: int, body: bytes, headers: dict[str, str]
    ) -> tuple[dict[str, Any], float | None]:
        """One POST. Returns the attempt record and, when worth retrying, the server's wish
        for a delay (0.0 when it expressed none); None means do not retry."""
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        status: int | None = None
        try:
            session = self._http()
            async with session.post(
                self._url, data=body, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                status = response.status
                retry_after = _retry_after_s(response.headers.get("Retry-After"))
                await response.read()
        except TimeoutError:
            return _record(attempt, at, None, "timeout"), 0.0
        except aiohttp.ClientError as exc:
            # The exception text names the host (and may echo the URL): keep only its kind.
            return _record(attempt, at, None, f"connection error ({type(exc).__name__})"), 0.0

        if 200 <= status < 300:
            return _record(attempt, at, status, None), None
        error = f"HTTP {status}"
        if status >= 500 or status in RETRYABLE_4XX:
            return _record(attempt, at, status, error), retry_after or 0.0
        return _record(attempt, at, status, error), None

    def _delay(self, attempt: int, retry_after: float) -> float:
        if 0 < retry_after <= self._max_delay_s:
            return retry_after
        backoff = min(self._max_delay_s, self._base_delay_s * 2 ** (attempt - 1))
        # Jitter spreads retries from many workers after a desk outage.
        return backoff * random.uniform(0.5, 1.0)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session


def _record(attempt: int, at: str, status: int | None, error: str | None) -> dict[str, Any]:
    return {
        "attempt": attempt,
        "at": at,
        "status": status,
        "error": error,
        "delivered": status is not None and 200 <= status < 300,
    }


async def _report(on_attempt: AttemptCallback | None, record: dict[str, Any]) -> None:
    if on_attempt is None:
        return
    try:
        await on_attempt(dict(record))
    except Exception:
        # Bookkeeping must never stop the delivery itself.
        logger.exception("escalation webhook: recording attempt %s failed", record["attempt"])


def _retry_after_s(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
