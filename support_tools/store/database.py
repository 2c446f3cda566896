"""Opening the store: engine, per-connection settings, schema creation and upgrades.

`DATABASE_URL` picks the backend: `sqlite+aiosqlite:///path.db` for one machine, or
`postgresql+asyncpg://user:pass@host/db` for many workers. Every operation of the support
service runs in one transaction (`store.session(write=True)` + `session.begin()`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, event, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# SCHEMA_VERSION is re-exported: the version this code writes.
from .migrations import SCHEMA_VERSION as SCHEMA_VERSION
from .migrations import upgrade
from .models import DATA_TABLES_CHILDREN_FIRST, SchemaVersion

# How long a statement waits for a lock before it fails: a tool must answer the caller within
# 3 s even when the store is locked (domain/store_faults.py says so in words).
SQLITE_BUSY_TIMEOUT_MS = 2_000
POSTGRES_CONNECT_TIMEOUT_S = 2
POSTGRES_LOCK_TIMEOUT_MS = 2_000
# Any constant: PostgreSQL workers starting together take turns upgrading the schema.
_MIGRATION_LOCK_ID = 4829131
T = TypeVar("T")


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, a busy timeout and foreign keys on every connection; explicit transactions.

    pysqlite's own transaction handling starts transactions lazily, which in WAL mode lets two
    writers both read and then fail with "database is locked" on write. So the driver is put in
    autocommit mode and SQLAlchemy begins each transaction itself: `BEGIN IMMEDIATE` (take the
    write lock first, wait up to the busy timeout) for write sessions, plain `BEGIN` for reads.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("shopme_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Store:
    """The shop's database. Open with `await Store.open(url)`; close with `await store.close()`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.backend = engine.dialect.name  # "sqlite" or "postgresql"
        write_engine = engine.execution_options(shopme_write=True)
        self._reads = async_sessionmaker(engine, expire_on_commit=False)
        self._writes = async_sessionmaker(write_engine, expire_on_commit=False)

    @classmethod
    async def open(cls, url: str, *, search_path: str | None = None, migrate: bool = True) -> Store:
        """Connect, then create or upgrade the schema. `search_path` (PostgreSQL only) puts the
        tables in that schema, which lets tests run side by side in one database. `migrate=False`
        skips the schema step (and its write lock) where start-up has already done it."""
        kwargs: dict[str, Any] = {}
        if url.startswith("postgresql"):
            kwargs["pool_pre_ping"] = True
            server_settings = {"lock_timeout": str(POSTGRES_LOCK_TIMEOUT_MS)}
            if search_path:
                server_settings["search_path"] = search_path
            kwargs["connect_args"] = {"timeout": POSTGRES_CONNECT_TIMEOUT_S, "server_settings": server_settings}
        engine = create_async_engine(url, **kwargs)
        if engine.dialect.name == "sqlite":
            _configure_sqlite(engine)
        store = cls(engine)
        if not migrate:
            return store
        try:
            await store._migrate()
        except BaseException:
            await engine.dispose()
            raise
        return store

    async def _migrate(self) -> None:
        async with self.engine.execution_options(shopme_write=True).begin() as conn:
            if self.backend == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            await conn.run_sync(upgrade)

    async def schema_version(self) -> int:
        async with self.engine.connect() as conn:
            version = await conn.scalar(select(SchemaVersion.version).order_by(SchemaVersion.version.desc()))
        return int(version or 0)

    @asynccontextmanager
    async def session(self, *, write: bool = False) -> AsyncIterator[AsyncSession]:
        """An `AsyncSession`. Pass `write=True` for a transaction that will write (on SQLite it
        takes the write lock up front, so concurrent writers queue instead of failing)."""
        maker = self._writes if write else self._reads
        async with maker() as session:
            yield session

    async def write(self, operation: Callable[[AsyncSession], Awaitable[T]], *, attempts: int = 3) -> T:
        """Run `operation` in one write transaction: all of it is committed, or none of it.

        A UNIQUE-key conflict means a concurrent request won the race (or a random code
        collided): the transaction is rolled back and `operation` runs again, and this time
        it finds the winner's row. Any other exception rolls back and propagates.
        """
        for attempt in range(1, attempts + 1):
            try:
                async with self.session(write=True) as session, session.begin():
                    return await operation(session)
            except IntegrityError:
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    async def wipe(self) -> None:
        """Delete every row of every data table (the schema and its version stay)."""
        async with self.engine.execution_options(shopme_write=True).begin() as conn:
            for table in DATA_TABLES_CHILDREN_FIRST:
                await conn.execute(table.delete())

    async def close(self) -> None:
        await self.engine.dispose()
