"""`invites keys rotate`: every sealed address re-encrypted under the first of DATA_KEYS.

Rotating a data key: put the new key first in DATA_KEYS (the old one after it, so what it
sealed still opens), restart, run `invites keys rotate`, then drop the old key. The command
works through each place an address is sealed in committed chunks by id and picks only values
not under the current key yet, so a rerun after an interruption carries on where it stopped
and redoes nothing. Each row is written only if it still holds what was read (a contact may
change its address meanwhile), so it is safe while the service runs.
"""

# ruff: noqa: S608 - the SQL is built from PLACES, this module's own constants, never from input
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import Engine, text

from invites.core.atrest import SealError, Vault, vault

#: Every place an address is sealed: (table, column, the keyed hash it is bound to).
PLACES = (
    ("contacts", "email", "email_hash"),
    ("invitations", "email", "email_hash"),
    ("outbound_messages", "to_email", "to_email_hash"),
    ("address_changes", "new_email", "new_email_hash"),
    ("staff_users", "email", "email_hash"),
)
CHUNK = 500


@dataclass
class Rotation:
    """What a rotation did: values sealed again, and values that changed under it (skipped)."""

    resealed: int = 0
    changed_meanwhile: int = 0


def _stale(table: str, column: str) -> str:
    """The rows of one place whose value is sealed under another key than the current one."""
    # substr, not LIKE: a key id may hold "_", which LIKE reads as a wildcard.
    return (
        f"FROM {table} WHERE {column} IS NOT NULL "
        f"AND substr({column}, 1, :prefix_length) <> :prefix"
    )


def _bind(box: Vault) -> dict[str, object]:
    prefix = f"v1.{box.ring.current}."
    return {"prefix": prefix, "prefix_length": len(prefix)}


def pending(engine: Engine, box: Vault) -> int:
    """How many sealed addresses are not under the current key yet."""
    with engine.connect() as conn:
        return sum(
            int(conn.execute(text(f"SELECT count(*) {_stale(t, c)}"), _bind(box)).scalar_one())
            for t, c, _hashed in PLACES
        )


def rotate(
    engine: Engine,
    box: Vault,
    chunk: int = CHUNK,
    progress: Callable[[int], None] = lambda _n: None,
) -> Rotation:
    """Seal every address not under the current key again, one committed chunk at a time."""
    done = Rotation()
    for table, column, hashed in PLACES:
        place, last = f"{table}.{column}", 0
        select = (
            f"SELECT id, {column}, {hashed} {_stale(table, column)} "
            f"AND id > :last ORDER BY id LIMIT :n"
        )
        update = f"UPDATE {table} SET {column} = :new WHERE id = :id AND {column} = :old"
        while True:
            with engine.begin() as conn:
                rows = conn.execute(text(select), {**_bind(box), "last": last, "n": chunk}).all()
                if not rows:
                    break
                for row_id, sealed, email_hash in rows:
                    new = box.reseal(place, sealed, email_hash)
                    written = conn.execute(text(update), {"new": new, "id": row_id, "old": sealed})
                    if written.rowcount:
                        done.resealed += 1
                    else:
                        done.changed_meanwhile += 1
            last = rows[-1][0]
            progress(len(rows))
    return done


@click.group("keys")
def keys_group() -> None:
    """Manage the keys that encrypt stored email addresses (DATA_KEYS)."""


@keys_group.command("rotate")
@click.option("--chunk", default=CHUNK, show_default=True, help="Rows per committed chunk.")
@with_appcontext
def rotate_command(chunk: int) -> None:
    """Re-encrypt every stored address under the first key of DATA_KEYS (resumable)."""
    from invites.core.db import db

    box = vault(current_app.config["SETTINGS"])
    total = pending(db.engine, box)
    try:
        with click.progressbar(length=total, label=f"to key {box.ring.current}") as bar:
            done = rotate(db.engine, box, chunk, bar.update)
    except SealError as exc:
        # Names the place and the key, never the value: the key is missing from DATA_KEYS.
        raise click.ClickException(f"{exc}; add that key to DATA_KEYS and run this again") from exc
    click.echo(
        f"{done.resealed} addresses re-encrypted under key {box.ring.current}"
        + (f"; {done.changed_meanwhile} changed meanwhile (new)" if done.changed_meanwhile else "")
        + f"; {pending(db.engine, box)} left under other keys"
    )
