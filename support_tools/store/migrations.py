"""Schema versions and the steps between them. `Store.open` runs `upgrade` in one transaction.

Step i brings the schema from version i to i + 1. Append, never edit: a database made by an
older release must upgrade to exactly what a fresh one gets.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, select
from sqlalchemy.schema import CreateTable

from .models import OUTCOMES, V1_OUTCOMES, V1_TABLES, V2_TABLES, ConversationRecord, SchemaVersion

SCHEMA_VERSION = 2


def _outcome_check(outcomes: tuple[str, ...]) -> str:
    return f"outcome IN ({', '.join(repr(o) for o in outcomes)})"


def _records_table_ddl(conn: Connection, outcomes: tuple[str, ...]) -> str:
    """CREATE TABLE for the conversation records, with this outcome CHECK."""
    ddl = str(CreateTable(ConversationRecord.__table__).compile(dialect=conn.dialect))
    assert _outcome_check(OUTCOMES) in ddl
    return ddl.replace(_outcome_check(OUTCOMES), _outcome_check(outcomes), 1)


def _create_v1(conn: Connection) -> None:
    """The schema as version 1 had it (its records' outcome CHECK knew three outcomes)."""
    records = ConversationRecord.__table__
    for table in V1_TABLES:
        if table is not records:
            table.create(conn, checkfirst=True)
        elif not conn.dialect.has_table(conn, records.name):
            conn.exec_driver_sql(_records_table_ddl(conn, V1_OUTCOMES))
            for index in records.indexes:
                index.create(conn)


def _v2_throttling_and_model_outcome(conn: Connection) -> None:
    """Failed verifications and verification locks, counted across sessions and workers; the
    record outcome `model_unavailable`."""
    for table in V2_TABLES:
        table.create(conn, checkfirst=True)
    records = ConversationRecord.__table__
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ALTER TABLE conversation_records DROP CONSTRAINT IF EXISTS ck_records_outcome")
        conn.exec_driver_sql(
            "ALTER TABLE conversation_records ADD CONSTRAINT ck_records_outcome "
            f"CHECK ({_outcome_check(OUTCOMES)})"
        )
        return
    # SQLite cannot change a CHECK constraint: rebuild the table and copy its rows over.
    conn.exec_driver_sql("ALTER TABLE conversation_records RENAME TO conversation_records_v1")
    for index in records.indexes:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {index.name}")
    records.create(conn)
    columns = ", ".join(column.name for column in records.columns)
    conn.exec_driver_sql(
        f"INSERT INTO conversation_records ({columns}) SELECT {columns} FROM conversation_records_v1"
    )
    conn.exec_driver_sql("DROP TABLE conversation_records_v1")


MIGRATIONS: list[Callable[[Connection], None]] = [_create_v1, _v2_throttling_and_model_outcome]
assert len(MIGRATIONS) == SCHEMA_VERSION


def upgrade(conn: Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema up to `target` (tests build an older version with a lower one)."""
    SchemaVersion.__table__.create(conn, checkfirst=True)
    current = conn.execute(select(SchemaVersion.version).order_by(SchemaVersion.version.desc())).scalar()
    current = current or 0
    for version in range(current + 1, target + 1):
        MIGRATIONS[version - 1](conn)
        conn.execute(SchemaVersion.__table__.insert().values(version=version, applied_at=datetime.now(UTC)))
    return max(current, target)
