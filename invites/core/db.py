"""The SQLAlchemy extension, and a few portable SQL helpers (Alembic: dbsetup.migrations)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Connection, CursorResult, Engine, MetaData, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session

log = logging.getLogger(__name__)

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with the project's naming convention."""

    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)

#: What domain functions accept: a plain session or Flask-SQLAlchemy's scoped `db.session`.
AnySession = Session | scoped_session[Any]


def utcnow() -> datetime:
    """Return the current UTC time as a naive datetime (how every timestamp is stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


def clean_slate(probe: bool) -> bool:
    """Ready the session and pool for a unit of work outside a request (a worker's next job).

    A worker runs every job in one app context, so one job's failed transaction would stay in
    the scoped session and fail every later job with PendingRollbackError: the session is
    removed (rolled back, its connection returned) first. With `probe`, one pooled connection
    is tried: if PostgreSQL dropped the pool's connections (a restart, a failover, a
    terminated backend), SQLAlchemy sees the disconnect and discards every connection pooled
    before it, so the job gets a new one instead of dying on a dead one. Returns whether the
    database answered; it never raises (the job then meets the error and fails on its own).
    """
    db.session.remove()
    if not probe:
        return True
    for attempt in (1, 2):
        try:
            with db.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except DBAPIError as exc:
            # Invalidated: that connection was dead, and the pool with it; once more on a
            # fresh one. Otherwise the database itself is away: say so, and let the job try.
            if not exc.connection_invalidated or attempt == 2:
                log.warning("database unreachable before a job: %s", type(exc.orig).__name__)
                return False
    return False


def run_alone(
    bind: Engine | Connection, sql: str, params: dict[str, Any], retry_dead: bool = False
) -> Any:
    """Run one statement autocommitted on a pooled psycopg connection; return its first row.

    One round trip instead of BEGIN, statement, COMMIT, and none of the Session's bookkeeping:
    for the API's hot path. A connection found dead (the server restarted or failed over) is
    dropped with every other pooled one, as SQLAlchemy does on a disconnect; with `retry_dead`
    the statement then runs once more on a new connection, so a restart costs no request. Only
    for statements whose second run can't do harm the first didn't.
    """
    engine = bind.engine
    dead = engine.dialect.loaded_dbapi.OperationalError
    for attempt in (1, 2):
        raw = engine.raw_connection()
        driver: Any = raw.driver_connection
        try:
            driver.autocommit = True
            return driver.execute(sql, params, prepare=True).fetchone()
        except dead:
            raw.invalidate()
            engine.dispose()
            if not retry_dead or attempt == 2:
                raise
        finally:
            if raw.is_valid:
                # The pool lends it next to code that expects a transaction per unit of work.
                driver.autocommit = False
            raw.close()
    raise AssertionError("unreachable")


def run(
    session: AnySession,
    key: tuple[Any, ...],
    build: Callable[[str], Any],
    params: dict[str, Any],
    retry_dead: bool = False,
) -> CursorResult[Any]:
    """Execute a statement built once per process and dialect, on the session's connection.

    Hot paths (every API request) pay for building SQLAlchemy expressions and for the ORM's
    execution layer; a prebuilt Core statement with bound parameters pays for neither. With
    `retry_dead`, as in run_alone, a statement that met a dead pooled connection (SQLAlchemy
    then drops the pool) runs once more on a new one. The session is rolled back first, so
    only for the first statement of a unit of work, and one whose second run can't do harm.
    """
    try:
        return _execute(session, key, build, params)
    except DBAPIError as exc:
        if not (retry_dead and exc.connection_invalidated):
            raise
        session.rollback()
        return _execute(session, key, build, params)


def _execute(
    session: AnySession, key: tuple[Any, ...], build: Callable[[str], Any], params: dict[str, Any]
) -> CursorResult[Any]:
    conn = session.connection()
    dialect = conn.dialect.name
    stmt = _PREBUILT.get((dialect, *key))
    if stmt is None:
        stmt = _PREBUILT[(dialect, *key)] = build(dialect)
    return conn.execute(stmt, params)


_PREBUILT: dict[tuple[Any, ...], Any] = {}


def _insert(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


def _bump(table: Table, keys: tuple[str, ...], counters: tuple[str, ...], ret: bool) -> Any:
    def build(dialect: str) -> Any:
        stmt = _insert(dialect, table)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: table.c[name] + stmt.excluded[name] for name in counters},
        )
        return stmt.returning(table.c[counters[0]]) if ret else stmt

    return build


def bump(session: AnySession, table: Table, key: dict[str, Any], **increments: int) -> None:
    """Add to counter columns of the row with this key, creating it first."""
    keys, counters = tuple(key), tuple(increments)
    run(
        session,
        ("bump", table.name, keys, counters),
        _bump(table, keys, counters, False),
        {**key, **increments},
    )


def bump_one(session: AnySession, table: Table, key: dict[str, Any], column: str) -> int:
    """Add one to a counter column (creating the row) and return its new value, in one statement.

    On PostgreSQL the statement also locks the row until the transaction ends.
    """
    keys = tuple(key)
    result = run(
        session,
        ("bump1", table.name, keys, column),
        _bump(table, keys, (column,), True),
        {**key, column: 1},
    )
    return int(result.scalar_one())


def insert_ignore(
    session: AnySession, table: Table, values: dict[str, Any], keys: list[str]
) -> bool:
    """Insert a row unless one with the same keys exists; return whether it was inserted."""

    def build(dialect: str) -> Any:
        stmt = _insert(dialect, table).on_conflict_do_nothing(index_elements=keys)
        # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT statements.
        return stmt.returning(table.c[keys[0]])

    key = ("ignore", table.name, tuple(keys), tuple(sorted(values)))
    return run(session, key, build, values).first() is not None


def claim_window(
    session: AnySession,
    table: Table,
    key: dict[str, Any],
    column: str,
    now: datetime,
    cutoff: datetime,
) -> bool:
    """Set `column` to now unless it is newer than cutoff; return whether this caller claimed it.

    One statement, so two concurrent callers can never both win the same window.
    """

    def build(dialect: str) -> Any:
        stmt = _insert(dialect, table)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(key),
            set_={column: stmt.excluded[column]},
            where=table.c[column] < bindparam("cutoff"),
        )
        return stmt.returning(table.c[column])

    params = {**key, column: now, "cutoff": cutoff}
    return (
        run(session, ("claim", table.name, tuple(key), column), build, params).first() is not None
    )
