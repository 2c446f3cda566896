"""Per-client request limits for the token endpoint: a sliding window per client address."""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_TRACKED_CLIENTS = 10_000


class SlidingWindowLimiter:
    """At most `limit` requests per client in any `window_s` seconds.

    Memory is bounded: at most `max_clients` addresses are remembered; when full, the client seen
    least recently is forgotten first (a flood from many addresses cannot grow the table).
    """

    def __init__(
        self,
        limit: int,
        window_s: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_TRACKED_CLIENTS,
    ) -> None:
        if limit < 1 or window_s <= 0 or max_clients < 1:
            raise ValueError("limit, window and table size must be positive")
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._max_clients = max_clients
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, client: str) -> int | None:
        """Count one request from `client`: None if allowed, else whole seconds until it would be."""
        now = self._clock()
        hits = self._hits.get(client)
        if hits is None:
            hits = self._hits[client] = deque()
            while len(self._hits) > self._max_clients:
                self._hits.popitem(last=False)
        self._hits.move_to_end(client)
        while hits and hits[0] <= now - self._window_s:
            hits.popleft()
        if len(hits) >= self._limit:
            return max(1, math.ceil(hits[0] + self._window_s - now))
        hits.append(now)
        return None
