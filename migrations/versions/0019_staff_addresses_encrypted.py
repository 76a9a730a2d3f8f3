"""staff sign-in addresses encrypted at rest, and records that name staff by account

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 20:00:00

`staff_users.email` is sealed like the other addresses (invites.core.atrest, place
"staff_users.email", bound to the row's keyed hash) and gains `email_hash`, NOT NULL and
UNIQUE: sign-in finds an account by it, and it keeps two accounts from sharing an address.
The column keeps its name and its UNIQUE constraint (a sealed value never repeats, and on
SQLite dropping the constraint would mean rebuilding a table that others reference).

The records that named a staff member by address now name the account: the audit log's
`actor` becomes "staff #<id>" (the console shows the account's current address next to it),
the address leaves staff.created and staff.login_failed details (the event's target is the
account), and "paused by <address>" (a campaign's paused_reason and its campaign.pause
detail) becomes "paused by staff #<id>". An audit row whose account row was deleted (actor_id
set to NULL, the address kept) becomes "staff (account deleted)": no account is left to name.

The downgrade opens the addresses and writes them back where the labels are (the deleted
accounts' addresses can't come back). Both directions need the keys the app is configured
with, as 0018 does.
"""

# ruff: noqa: S608 - the SQL is built from this file's own constants, never from input
import json
import re

from alembic import op
import sqlalchemy as sa
from flask import current_app

from invites.core.atrest import SEALED_LENGTH, vault


# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

PLACE = "staff_users.email"
INDEX = "ix_staff_users_email_hash"
TRIGGER = "audit_events_append_only"
DELETED = "staff (account deleted)"
#: Details that held the account's own address next to the account's id (their target).
ADDRESS_DETAILS = ("staff.created", "staff.login_failed")
CHUNK = 1000
LABEL = re.compile(r"staff #(\d+)")


def _label(staff_id):
    return f"staff #{staff_id}"


def _declare(table, old, new):
    """Change one column's declaration in SQLite's schema text, in place.

    As https://sqlite.org/lang_altertable.html#otheralter describes for changes that don't
    touch what is stored (see 0018): a wider VARCHAR, which SQLite doesn't enforce, and a
    NOT NULL the rows already meet (checked first). Alembic's batch mode would rebuild the
    table instead, and staff_users is referenced by other tables' foreign keys.
    """
    bind = op.get_bind()
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
    assert changed == 1, f"{table}: declaration {old!r} not found"


def _sqlite():
    return op.get_bind().dialect.name == "sqlite"


def _staff(bind):
    return bind.execute(sa.text("SELECT id, email, email_hash FROM staff_users ORDER BY id")).all()


def _rewrite_details(bind, where, change):
    """Rewrite the JSON detail of the audit rows `where` selects with `change(action, dict)`
    (None: leave the row), in chunks by id."""
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT id, action, target_id, detail FROM audit_events "
                f"WHERE id > :last AND detail IS NOT NULL AND ({where}) ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": CHUNK},
        ).all()
        if not rows:
            return
        updates = []
        for row_id, action, target_id, detail in rows:
            new = change(action, target_id, json.loads(detail))
            if new is not None:
                text = json.dumps(new, sort_keys=True, ensure_ascii=False) if new else None
                updates.append({"id": row_id, "detail": text})
        if updates:
            bind.execute(sa.text("UPDATE audit_events SET detail = :detail WHERE id = :id"), updates)
        last = rows[-1][0]


def _rewrite_reasons(bind, change):
    rows = bind.execute(
        sa.text("SELECT id, paused_reason FROM campaigns WHERE paused_reason IS NOT NULL")
    ).all()
    changed = ((row_id, reason, change(reason)) for row_id, reason in rows)
    updates = [{"id": row_id, "reason": new} for row_id, old, new in changed if new != old]
    if updates:
        bind.execute(sa.text("UPDATE campaigns SET paused_reason = :reason WHERE id = :id"), updates)


def _audit_writable(writable):
    # The trigger (0006) refuses every UPDATE of audit_events, as it should for the app. This
    # migration is the one change of history the log is meant to allow: its rows keep what
    # they say and lose only the addresses. DISABLE/ENABLE TRIGGER is DDL, so inside the
    # migration's transaction: if any step fails, the trigger is back as it was. It holds
    # the table's lock until the commit; the log is only ever appended to, briefly.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE audit_events {'DISABLE' if writable else 'ENABLE'} TRIGGER {TRIGGER}")


def upgrade():
    bind = op.get_bind()
    box = vault(current_app.config["SETTINGS"])
    op.add_column("staff_users", sa.Column("email_hash", sa.String(length=64), nullable=True))
    labels = {email: _label(staff_id) for staff_id, email, _h in _staff(bind)}

    def no_address(text):
        # Longest first: "ann@x.org" must not be replaced inside "joann@x.org".
        for email, label in sorted(labels.items(), key=lambda pair: -len(pair[0])):
            text = text.replace(email, label)
        return text

    def detail_without_address(action, _target_id, detail):
        new = {
            key: no_address(value) if isinstance(value, str) else value
            for key, value in detail.items()
            if not (key == "email" and action in ADDRESS_DETAILS)
        }
        return new if new != detail else None

    _audit_writable(True)
    bind.execute(
        sa.text("UPDATE audit_events SET actor = 'staff #' || actor_id WHERE actor_id IS NOT NULL")
    )
    bind.execute(
        sa.text(
            "UPDATE audit_events SET actor = :deleted "
            "WHERE actor_id IS NULL AND actor LIKE '%@%'"
        ),
        {"deleted": DELETED},
    )
    _rewrite_details(bind, "detail LIKE '%@%'", detail_without_address)
    _audit_writable(False)
    _rewrite_reasons(bind, no_address)

    sealed = []
    for staff_id, email, _h in _staff(bind):
        email_hash = box.hash(email)
        sealed.append({"id": staff_id, "hash": email_hash, "sealed": box.seal_address(PLACE, email, email_hash)})
    if sealed:
        bind.execute(
            sa.text("UPDATE staff_users SET email = :sealed, email_hash = :hash WHERE id = :id"),
            sealed,
        )
    if _sqlite():
        missing = bind.execute(sa.text("SELECT count(*) FROM staff_users WHERE email_hash IS NULL"))
        assert missing.scalar() == 0, "a staff address was not sealed"
        _declare("staff_users", "email VARCHAR(320)", f"email VARCHAR({SEALED_LENGTH})")
        _declare("staff_users", "email_hash VARCHAR(64)", "email_hash VARCHAR(64) NOT NULL")
    else:
        op.alter_column("staff_users", "email", type_=sa.String(length=SEALED_LENGTH), existing_nullable=False)
        op.alter_column("staff_users", "email_hash", existing_type=sa.String(length=64), nullable=False)
    op.create_index(INDEX, "staff_users", ["email_hash"], unique=True)


def downgrade():
    bind = op.get_bind()
    box = vault(current_app.config["SETTINGS"])
    opened = {
        staff_id: box.open_address(PLACE, sealed, email_hash)
        for staff_id, sealed, email_hash in _staff(bind)
    }
    op.drop_index(INDEX, table_name="staff_users")
    if opened:
        bind.execute(
            sa.text("UPDATE staff_users SET email = :email WHERE id = :id"),
            [{"id": staff_id, "email": email} for staff_id, email in opened.items()],
        )
    if _sqlite():
        _declare("staff_users", "email_hash VARCHAR(64) NOT NULL", "email_hash VARCHAR(64)")
        _declare("staff_users", f"email VARCHAR({SEALED_LENGTH})", "email VARCHAR(320)")
    else:
        op.alter_column("staff_users", "email", type_=sa.String(length=320), existing_nullable=False)
    # Not in batch mode: SQLite (3.35+) drops a column in place (see 0018).
    op.drop_column("staff_users", "email_hash")

    def addresses(text):
        return LABEL.sub(lambda m: opened.get(int(m.group(1)), m.group(0)), text)

    def detail_with_address(action, target_id, detail):
        new = {k: addresses(v) if isinstance(v, str) else v for k, v in detail.items()}
        account = int(target_id) if target_id and target_id.isdigit() else None
        if action in ADDRESS_DETAILS and account in opened:
            new["email"] = opened[account]
        return new if new != detail else None

    _audit_writable(True)
    for staff_id, email in opened.items():
        bind.execute(
            sa.text("UPDATE audit_events SET actor = :email WHERE actor_id = :id"),
            {"email": email, "id": staff_id},
        )
    where = "detail LIKE '%staff #%' OR action IN ('staff.created', 'staff.login_failed')"
    _rewrite_details(bind, where, detail_with_address)
    _audit_writable(False)
    _rewrite_reasons(bind, addresses)
