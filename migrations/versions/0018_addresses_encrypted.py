"""addresses encrypted at rest: every stored email address sealed under DATA_KEYS

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 16:40:00

Contacts', invitations', outbox rows' and address changes' addresses are sealed with AES-GCM
(invites.core.atrest) under the keys DATA_KEYS configures, bound to table, column and the row's
keyed hash. The columns widen to hold a sealed value (PostgreSQL; SQLite keeps no length), the
outbox and address changes get the keyed hash their addresses are found and bound by, and the
rows already there are sealed in committed-size chunks with the keys the app is configured with.
The downgrade opens them again (it needs the same keys).
"""

# ruff: noqa: S608 - the SQL is built from this file's own constants, never from input
from alembic import op
import sqlalchemy as sa
from flask import current_app

from invites.core.atrest import SEALED_LENGTH, vault


# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

#: (table, address column, keyed-hash column); the hash columns of the last two are new.
PLACES = (
    ("contacts", "email", "email_hash"),
    ("invitations", "email", "email_hash"),
    ("outbound_messages", "to_email", "to_email_hash"),
    ("address_changes", "new_email", "new_email_hash"),
)
#: Tables whose address column may be NULL (an erased invitation, mail to a contact).
NULLABLE = ("invitations", "outbound_messages")
CHUNK = 1000


def _retype(table, column, before, after, nullable):
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # SQLite stores text of any length, so only the declared type changes, in place, as
        # https://sqlite.org/lang_altertable.html#otheralter describes for changes that don't
        # touch what is stored. Alembic's batch mode would rebuild the table instead, and
        # dropping the old `contacts` deletes every row that references it ON DELETE CASCADE.
        old, new = f"{column} VARCHAR({before})", f"{column} VARCHAR({after})"
        version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
        bind.exec_driver_sql("PRAGMA writable_schema=ON")
        changed = bind.execute(
            sa.text(
                "UPDATE sqlite_master SET sql = replace(sql, :old, :new) "
                "WHERE type = 'table' AND name = :table AND instr(sql, :old) > 0"
            ),
            {"old": old, "new": new, "table": table},
        ).rowcount
        bind.exec_driver_sql(f"PRAGMA schema_version={version + 1}")
        bind.exec_driver_sql("PRAGMA writable_schema=OFF")
        assert changed == 1, f"{table}.{column}: declared type not found"
        return
    op.alter_column(table, column, type_=sa.String(length=after), existing_nullable=nullable)


def _rewrite(table, column, hashed, change, only):
    """Rewrite every address of one column with `change`, in chunks by id (plaintext: `only`)."""
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                f"SELECT id, {column}, {hashed} FROM {table} "
                f"WHERE id > :last AND {column} IS NOT NULL AND {only} ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": CHUNK},
        ).all()
        if not rows:
            return
        bind.execute(
            sa.text(f"UPDATE {table} SET {column} = :value, {hashed} = :hash WHERE id = :id"),
            [
                dict(
                    zip(("value", "hash"), change(f"{table}.{column}", value, h), strict=True),
                    id=row_id,
                )
                for row_id, value, h in rows
            ],
        )
        last = rows[-1][0]


def upgrade():
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("to_email_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("address_changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("new_email_hash", sa.String(length=64), nullable=True))
    for table, column, _hashed in PLACES:
        _retype(table, column, 320, SEALED_LENGTH, table in NULLABLE)

    box = vault(current_app.config["SETTINGS"])

    def seal(place, address, h):
        h = h or box.hash(address)
        return box.seal_address(place, address, h), h

    # An address has an @; a sealed value (base64url) never does.
    for table, column, hashed in PLACES:
        _rewrite(table, column, hashed, seal, f"{column} LIKE '%@%'")


def downgrade():
    box = vault(current_app.config["SETTINGS"])

    def open_(place, sealed, h):
        return box.open_address(place, sealed, h), h

    for table, column, hashed in PLACES:
        _rewrite(table, column, hashed, open_, f"{column} NOT LIKE '%@%'")
        _retype(table, column, SEALED_LENGTH, 320, table in NULLABLE)
    # Not in batch mode: SQLite (3.35+) drops a column in place, where a batch would rebuild
    # the table and drop the old one.
    op.drop_column("address_changes", "new_email_hash")
    op.drop_column("outbound_messages", "to_email_hash")
