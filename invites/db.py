"""The SQLAlchemy and Alembic extensions, and a few portable SQL helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session

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
migrate = Migrate(render_as_batch=True)


def utcnow() -> datetime:
    """Return the current UTC time as a naive datetime (how every timestamp is stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _insert(session: AnySession, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


def bump(session: AnySession, table: Table, key: dict[str, Any], **increments: int) -> None:
    """Add to counter columns of the row with this key, creating it at zero first."""
    stmt = _insert(session, table).values(**key, **increments)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={name: table.c[name] + amount for name, amount in increments.items()},
    )
    session.execute(stmt)


def insert_ignore(
    session: AnySession, table: Table, values: dict[str, Any], keys: list[str]
) -> bool:
    """Insert a row unless one with the same keys exists; return whether it was inserted."""
    stmt = _insert(session, table).values(**values).on_conflict_do_nothing(index_elements=keys)
    # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT statements.
    return session.execute(stmt.returning(table.c[keys[0]])).first() is not None


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
    stmt = _insert(session, table).values(**key, **{column: now})
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={column: now},
        where=table.c[column] < cutoff,
    )
    return session.execute(stmt.returning(table.c[column])).first() is not None
