"""Opening the store: engine, per-connection settings, schema creation and upgrades.

`DATABASE_URL` picks the backend: `sqlite+aiosqlite:///path.db` for one machine, or
`postgresql+asyncpg://user:pass@host/db` for many workers. Every write of the support service
runs in one transaction (`store.write(...)`); lookups run through `store.read(...)` (or
`store.first` / `store.all`) without a transaction, which is where a voice call's latency is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine, Executable, Row, create_engine, event, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
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
# A read on the event loop's thread never waits long for a lock: in WAL mode readers are not
# blocked by writers, so this only covers a checkpoint or recovery in progress.
SQLITE_READ_BUSY_TIMEOUT_MS = 250
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


def _inline_sqlite_engine(engine: AsyncEngine) -> Engine | None:
    """A plain sqlite3 engine on the same file, for reads on the calling thread.

    Through aiosqlite every statement costs four or five hops to the driver's thread and back;
    an index lookup itself takes about 50 µs, less than one hop on a busy machine. So lookups
    run on the event loop's thread, in autocommit mode (no BEGIN/ROLLBACK), read-only.
    None for an in-memory database, which another connection could not see.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or "mode=memory" in str(engine.url):
        return None
    inline = create_engine(
        engine.url.set(drivername="sqlite+pysqlite"),
        connect_args={"check_same_thread": False},  # any thread's loop may read; one at a time per connection
    )

    @event.listens_for(inline, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_READ_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    return inline


class Reads(Protocol):
    """What a read operation gets: statements run one by one, each sees committed data."""

    async def first(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Row | None: ...

    async def all(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Sequence[Row]: ...


class _InlineReads:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def first(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Row | None:
        return self._conn.execute(statement, params).first()

    async def all(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Sequence[Row]:
        return self._conn.execute(statement, params).all()


class _DriverReads:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def first(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Row | None:
        return (await self._conn.execute(statement, params)).first()

    async def all(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Sequence[Row]:
        return (await self._conn.execute(statement, params)).all()


def _stale_connection(error: DBAPIError) -> bool:
    """The pooled connection had died (server restart, idle timeout): another one may work."""
    return bool(error.connection_invalidated)


class Store:
    """The shop's database. Open with `await Store.open(url)`; close with `await store.close()`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.backend = engine.dialect.name  # "sqlite" or "postgresql"
        write_engine = engine.execution_options(shopme_write=True)
        self._reads = async_sessionmaker(engine, expire_on_commit=False)
        self._writes = async_sessionmaker(write_engine, expire_on_commit=False)
        self._inline = _inline_sqlite_engine(engine)
        # PostgreSQL reads in autocommit: no BEGIN and ROLLBACK round trips around a lookup.
        # Each statement sees its own snapshot, as it would in a READ COMMITTED transaction.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT") if self.backend == "postgresql" else engine

    @classmethod
    def create(cls, url: str, *, search_path: str | None = None) -> Store:
        """The store for `url` without touching the database (connections open on first use),
        so a worker can build it before a call arrives. The schema must already be current."""
        kwargs: dict[str, Any] = {}
        # No pre-ping (a round trip per checkout): `read` and `write` retry once on a
        # connection that turns out to be dead. Connect and lock waits are bounded, so a tool
        # answers within 3 s even when the store is locked or unreachable.
        if url.startswith("postgresql"):
            server_settings = {"lock_timeout": str(POSTGRES_LOCK_TIMEOUT_MS)}
            if search_path:
                server_settings["search_path"] = search_path
            kwargs["connect_args"] = {"timeout": POSTGRES_CONNECT_TIMEOUT_S, "server_settings": server_settings}
        engine = create_async_engine(url, **kwargs)
        if engine.dialect.name == "sqlite":
            _configure_sqlite(engine)
        return cls(engine)

    @classmethod
    async def open(cls, url: str, *, search_path: str | None = None, migrate: bool = True) -> Store:
        """Connect, then create or upgrade the schema. `search_path` (PostgreSQL only) puts the
        tables in that schema, which lets tests run side by side in one database. `migrate=False`
        skips the schema step (and its write lock) where start-up has already done it."""
        store = cls.create(url, search_path=search_path)
        engine = store.engine
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
                # Workers starting together wait for the one upgrading, however long that takes:
                # the 2 s lock_timeout that bounds a tool's wait must not end their start-up.
                await conn.execute(text("SET LOCAL lock_timeout = 0"))
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

    async def read(self, operation: Callable[[Reads], Awaitable[T]]) -> T:
        """Run a lookup: `operation` gets `Reads` (`first`, `all`) and returns what it found.

        No transaction: each statement sees the data committed when it runs, so a lookup that
        needs one consistent picture should ask in one statement. A connection found dead is
        replaced and the lookup runs once more.
        """
        for attempt in (1, 2):
            try:
                if self._inline is not None:
                    with self._inline.connect() as conn:
                        return await operation(_InlineReads(conn))
                async with self._autocommit.connect() as conn:
                    return await operation(_DriverReads(conn))
            except DBAPIError as error:
                if attempt == 2 or not _stale_connection(error):
                    raise
        raise AssertionError("unreachable")

    async def first(self, statement: Executable, **params: Any) -> Row | None:
        """The first row of one read statement (None if there is none)."""

        async def lookup(reads: Reads) -> Row | None:
            return await reads.first(statement, params)

        return await self.read(lookup)

    async def all(self, statement: Executable, **params: Any) -> Sequence[Row]:
        """Every row of one read statement."""

        async def lookup(reads: Reads) -> Sequence[Row]:
            return await reads.all(statement, params)

        return await self.read(lookup)

    async def write(self, operation: Callable[[AsyncSession], Awaitable[T]], *, attempts: int = 3) -> T:
        """Run `operation` in one write transaction: all of it is committed, or none of it.

        A UNIQUE-key conflict means a concurrent request won the race (or a random code
        collided): the transaction is rolled back and `operation` runs again, and this time
        it finds the winner's row. A pooled connection found dead before the commit is
        replaced and `operation` runs again (nothing of it was committed). Any other exception
        rolls back and propagates.
        """
        for attempt in range(1, attempts + 1):
            committing = False
            try:
                async with self.session(write=True) as session, session.begin():
                    result = await operation(session)
                    committing = True
                return result
            except IntegrityError:
                if attempt == attempts:
                    raise
            except DBAPIError as error:
                # A failure during the commit may or may not have committed: never run twice.
                if committing or attempt == attempts or not _stale_connection(error):
                    raise
        raise AssertionError("unreachable")

    async def wipe(self) -> None:
        """Delete every row of every data table (the schema and its version stay)."""
        async with self.engine.execution_options(shopme_write=True).begin() as conn:
            for table in DATA_TABLES_CHILDREN_FIRST:
                await conn.execute(table.delete())

    async def close(self) -> None:
        if self._inline is not None:
            self._inline.dispose()
        await self.engine.dispose()
