"""A store that is locked or unreachable answers within seconds, in words a caller can hear.

SQLite waits at most `SQLITE_BUSY_TIMEOUT_MS` for a lock and PostgreSQL at most its connect and
lock timeouts (store/database.py); `STORE_DEADLINE_S` bounds whatever is left. Every operation
is one transaction, so a fault never leaves a partial write behind.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .errors import SupportError

logger = logging.getLogger("shopme.store")

STORE_DEADLINE_S = 2.8  # the caller hears something within 3 s
STORE_UNAVAILABLE = (
    "Our order system is not answering right now, so nothing was done or changed. Tell the caller "
    "you are sorry, and offer to try again in a minute, a call back later (schedule_callback), or "
    "a colleague (escalate_to_human)."
)
# Locked (SQLite "database is locked"), refused, reset, timed out.
STORE_DOWN = (OperationalError, InterfaceError, PoolTimeout, OSError, TimeoutError)
# PostgreSQL SQLSTATEs of a store that is busy or going away, not of a wrong statement:
# connection exceptions, insufficient resources, lock_not_available (lock_timeout),
# query_canceled, admin shutdown / crash / cannot connect now, deadlock.
TRANSIENT_SQLSTATES = ("08", "53", "55P03", "57014", "57P", "40P01")


def is_store_down(error: BaseException) -> bool:
    if isinstance(error, STORE_DOWN):
        return True
    if isinstance(error, DBAPIError):
        for cause in (error.orig, getattr(error.orig, "__cause__", None)):
            sqlstate = getattr(cause, "sqlstate", None)
            if isinstance(sqlstate, str) and sqlstate.startswith(TRANSIENT_SQLSTATES):
                return True
    return False


class StoreUnavailable(SupportError):
    def __init__(self) -> None:
        super().__init__(STORE_UNAVAILABLE)


P = ParamSpec("P")
T = TypeVar("T")


def answers_in_time(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """A service method that gives up on the store after `STORE_DEADLINE_S`, with the sentence."""

    @functools.wraps(method)
    async def guarded(*args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.wait_for(method(*args, **kwargs), STORE_DEADLINE_S)
        except Exception as error:
            if not is_store_down(error):
                raise
            logger.warning("%s: the store did not answer (%s)", method.__name__, type(error).__name__)
            raise StoreUnavailable() from None

    return guarded
