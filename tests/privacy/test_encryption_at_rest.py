"""Addresses encrypted at rest: a raw dump of the database (and Redis) holds no address, staff
sign-in addresses included; a ciphertext moved to another row doesn't open, key rotation keeps
every row readable and carries on after an interruption, and migration 0018 seals the
addresses already stored (and opens them again). Staff addresses' own stories (0019, races,
the audit search): test_staff_addresses_at_rest.py."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import sqlite3
import subprocess
from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import make_url, select, text

from invites import create_app
from invites.accounts.models import Contact
from invites.core import dbsetup, queue
from invites.core.atrest import SealError, key_id, vault
from invites.core.config import Settings, database_url
from invites.core.db import db, utcnow
from invites.datarequests import corrections
from invites.datarequests.models import AddressChange
from invites.delivery.models import OutboundMessage
from invites.invitations.models import Invitation
from invites.privacy import keys
from invites.staff import Role
from invites.staff.models import StaffUser

from ..support.campaigns import make_campaign, send_now
from ..support.helpers import auth, invite, make_app, new_key, redis_text
from ..support.staff import PASSWORD, make_staff, post_form, sign_in, signed_in
from .test_migration import empty_database  # noqa: F401 - a fixture

CONTACT, INVITEE, NEW_ADDRESS = (
    "ivy.stored@example.com",
    "finn.friend@example.com",
    "ivy.moved@new.example",
)
ADDRESSES = (CONTACT, INVITEE, NEW_ADDRESS)
#: Staff sign-in addresses (migration 0019 seals those): a marketer, her admin, and the
#: marketer tests/support/campaigns.py makes campaigns as.
STAFF_ADDRESS, STAFF_BOSS, STAFF_MAKER = (
    "olga.staff@spotcam.example",
    "bea.boss@spotcam.example",
    "marketer@example.com",
)
STAFF = (STAFF_ADDRESS, STAFF_BOSS, STAFF_MAKER)


def _key(name: str) -> str:
    return f"{name}:{base64.b64encode(name.encode().ljust(32, b'.')).decode()}"


def _hold_every_kind(app: Flask) -> None:
    """A contact, an invitation (its outbox row points at it), and an address change waiting
    for its confirmation (an outbox row addressed to the bare new address)."""
    key = new_key(app, ["contacts", "invitations"])
    client = app.test_client()
    body = {"email": CONTACT, "locale": "en", "name": "Ivy"}
    assert client.put("/api/v1/contacts/u-1", json=body, headers=auth(key)).status_code == 201
    assert invite(client, key, INVITEE).status_code == 202
    with app.app_context():
        contact = db.session.scalars(select(Contact)).one()
        corrections.ask_address_change(db.session, contact, NEW_ADDRESS, "en", utcnow())
        db.session.commit()
        db.session.remove()


def _staff_at_work(app: Flask) -> int:
    """An admin signs in and adds a marketer in the console; she mistypes her password, signs
    in, and pauses a campaign that sends. Returns the campaign's id."""
    boss = signed_in(app, STAFF_BOSS, Role.ADMIN)
    new = {"email": STAFF_ADDRESS, "role": "marketing", "password": PASSWORD}
    created = post_form(
        boss, "/console/users", {**new, "password_again": PASSWORD}, "/console/users"
    )
    assert created.status_code == 303
    assert sign_in(app.test_client(), STAFF_ADDRESS, "not the password at all").status_code == 200
    olga = app.test_client()
    assert sign_in(olga, STAFF_ADDRESS.upper()).status_code == 302
    campaign_id = make_campaign(app)  # by the suite's own marketer (STAFF_MAKER)
    send_now(app, campaign_id)
    page = f"/console/campaigns/{campaign_id}"
    assert post_form(olga, f"{page}/pause", {}, page).status_code == 303
    return campaign_id


def _raw_dump(app: Flask) -> str:
    """What a copy of the database shows: `pg_dump` on PostgreSQL, `.dump` on SQLite."""
    url = make_url(app.config["SETTINGS"].database_url)
    if url.get_backend_name() == "postgresql":
        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        done = subprocess.run(  # noqa: S603 - our own test database
            ["pg_dump", "--no-owner", plain],  # noqa: S607 - the client on PATH
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout
    conn = sqlite3.connect(str(url.database))
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def test_a_raw_dump_holds_no_address(app: Flask) -> None:
    _hold_every_kind(app)
    campaign_id = _staff_at_work(app)
    with app.app_context():
        # The service reads every one of them as it was given.
        assert db.session.scalars(select(Contact)).one().email == CONTACT
        assert db.session.scalars(select(Invitation)).one().email == INVITEE
        assert db.session.scalars(select(AddressChange)).one().new_email == NEW_ADDRESS
        bare = db.session.scalars(
            select(OutboundMessage).where(OutboundMessage.to_email_sealed.is_not(None))
        ).one()
        assert bare.to_email == NEW_ADDRESS
        db.session.remove()
    dump = _raw_dump(app)
    assert "Ivy" in dump and "u-1" in dump  # the dump holds the rows (a name isn't sealed)
    for address in ADDRESSES + STAFF:
        assert address not in dump.lower()
        assert address.split("@")[0] not in dump.lower()
    assert dump.count("v1.dev.") >= 4 + 3  # sealed: contact, invitation, outbox, address
    # change, and the three staff users
    # Records name staff accounts: the audit log's actors, the pause's reason.
    assert "staff #" in dump and "paused by staff #" in dump
    # Nor Redis: the sign-in counters are named by the keyed hash of the login.
    with app.app_context():
        in_redis = redis_text(queue.connection(app)).decode(errors="replace").lower()
        assert vault().hash(STAFF_ADDRESS) in in_redis
    for address in STAFF:
        assert address not in in_redis and address.split("@")[0] not in in_redis
        assert hashlib.sha256(address.encode()).hexdigest()[:32] not in in_redis
    # The console still shows who paused it, by the address that account has now.
    shown = signed_in(app, "another.admin@spotcam.example", Role.ADMIN)
    assert f"Paused by {STAFF_ADDRESS}." in shown.get(f"/console/campaigns/{campaign_id}").text
    status = app.test_cli_runner().invoke(args=["campaigns", "status", str(campaign_id), "--once"])
    assert f"paused: paused by {STAFF_ADDRESS}" in status.output, status.output


def test_a_ciphertext_moved_to_another_row_or_column_does_not_open(app: Flask) -> None:
    _hold_every_kind(app)
    key = new_key(app, ["contacts"])
    body = {"email": "other.person@example.com", "locale": "en"}
    put = app.test_client().put("/api/v1/contacts/u-2", json=body, headers=auth(key))
    assert put.status_code == 201
    with app.app_context():
        ivy, other = db.session.scalars(select(Contact).order_by(Contact.id)).all()
        # Someone with write access to the database copies Ivy's sealed address into the
        # other contact's row, and into an invitation: neither opens there.
        other.email_sealed = ivy.email_sealed
        inv = db.session.scalars(select(Invitation)).one()
        inv.email_sealed = ivy.email_sealed
        db.session.commit()
        moved_to = db.session.get(Contact, other.id)
        assert moved_to is not None
        with pytest.raises(SealError, match="altered or belongs elsewhere") as moved:
            _ = moved_to.email
        assert "@" not in str(moved.value) and "contacts.email" in str(moved.value)
        with pytest.raises(SealError, match="invitations.email"):
            _ = db.session.scalars(select(Invitation)).one().email
        # Into an invitation that names the same address (its hash): the column still differs.
        inv.email_hash = ivy.email_hash
        db.session.commit()
        with pytest.raises(SealError):
            _ = db.session.scalars(select(Invitation)).one().email
        db.session.remove()


def _key_ids(app: Flask) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    with app.app_context(), db.engine.connect() as conn:
        for table, column, _hashed in keys.PLACES:
            values = conn.execute(text(f"SELECT {column} FROM {table}")).scalars()  # noqa: S608
            found[f"{table}.{column}"] = {key_id(v) for v in values if v is not None}
    return found


def _read_everything(app: Flask) -> set[str]:
    with app.app_context():
        read = {c.email for c in db.session.scalars(select(Contact))}
        read |= {i.email for i in db.session.scalars(select(Invitation)) if i.email}
        read |= {m.to_email for m in db.session.scalars(select(OutboundMessage)) if m.to_email}
        read |= {a.new_email for a in db.session.scalars(select(AddressChange))}
        read |= {s.email for s in db.session.scalars(select(StaffUser))}
        db.session.remove()
    return read


class Interrupted(Exception):
    """The rotation's process died after its first chunk."""


def test_rotation_keeps_every_row_readable_and_carries_on_after_an_interruption(
    settings: Settings, app: Flask
) -> None:
    old_only = make_app(settings, data_keys=_key("old"))
    _hold_every_kind(old_only)
    key = new_key(old_only, ["contacts"])
    client = old_only.test_client()
    for n in range(5):
        body = {"email": f"person{n}@example.com", "locale": "en"}
        assert client.put(f"/api/v1/contacts/p{n}", json=body, headers=auth(key)).status_code
    make_staff(old_only, STAFF_ADDRESS)
    everyone = set(ADDRESSES) | {f"person{n}@example.com" for n in range(5)} | {STAFF_ADDRESS}
    assert set().union(*_key_ids(old_only).values()) == {"old"}

    # The operator puts a new key first and keeps the old one after it.
    both = make_app(settings, data_keys=f"{_key('new')},{_key('old')}")
    assert _read_everything(both) == everyone
    box = vault(both.config["SETTINGS"])
    chunks: list[int] = []

    def dies_after_the_first_chunk(n: int) -> None:
        chunks.append(n)
        raise Interrupted

    with both.app_context(), pytest.raises(Interrupted):
        keys.rotate(db.engine, box, chunk=3, progress=dies_after_the_first_chunk)
    with both.app_context():
        assert keys.pending(db.engine, box) == 10 - 3  # the first chunk was committed
    assert _read_everything(both) == everyone
    assert {"new", "old"} <= set().union(*_key_ids(both).values())

    # Run again (the command): it does only what is left, with a progress bar and a count.
    result = both.test_cli_runner().invoke(args=["keys", "rotate", "--chunk", "2"])
    assert result.exit_code == 0, result.output
    assert "7 addresses re-encrypted under key new" in result.output
    assert "0 left under other keys" in result.output
    assert set().union(*_key_ids(both).values()) == {"new"}
    again = both.test_cli_runner().invoke(args=["keys", "rotate"])
    assert "0 addresses re-encrypted" in again.output  # nothing is done twice

    # The old key can go: everything still reads.
    new_only = make_app(settings, data_keys=_key("new"))
    assert _read_everything(new_only) == everyone
    # Without the key a value names, the command says which key is missing, and no address.
    other = make_app(settings, data_keys=_key("other"))
    refused = other.test_cli_runner().invoke(args=["keys", "rotate"])
    assert refused.exit_code != 0 and "key 'new'" in refused.output
    assert "@" not in refused.output


def test_the_migration_seals_what_is_stored_and_the_downgrade_opens_it(
    settings: Settings,
    empty_database: str,  # noqa: F811 - the fixture
) -> None:
    url = database_url("DATABASE_URL", empty_database) or empty_database
    app = create_app(dataclasses.replace(settings, database_url=url))
    dbsetup.migrations(app)
    at = datetime(2026, 3, 1, 12, 0)
    box = vault(settings)
    with app.app_context():
        upgrade(revision="0017")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO contacts (id, public_id, user_id, email, email_hash, locale, "
                    "created_at, updated_at) VALUES (1, 'p1', 'u1', :e, :h, 'en', :at, :at)"
                ),
                {"e": CONTACT, "h": box.hash(CONTACT), "at": at},
            )
            conn.execute(
                text(
                    "INSERT INTO invitations (id, public_id, email, email_hash, locale, status, "
                    "created_at) VALUES (1, 'i1', :e, :h, 'en', 'pending', :at)"
                ),
                {"e": INVITEE, "h": box.hash(INVITEE), "at": at},
            )
            conn.execute(
                text(
                    "INSERT INTO outbound_messages (id, kind, to_email, status, attempts, "
                    "next_attempt_at, created_at) VALUES (1, 'service', :e, 'pending', 0, :at, :at)"
                ),
                {"e": NEW_ADDRESS, "at": at},
            )
            conn.execute(
                text(
                    "INSERT INTO address_changes (id, public_id, contact_id, new_email, "
                    "created_at) VALUES (1, 'a1', 1, :e, :at)"
                ),
                {"e": NEW_ADDRESS, "at": at},
            )
            conn.execute(
                text(
                    "INSERT INTO staff_users (id, email, password_hash, role, session_token, "
                    "created_at) VALUES (1, :e, 'x', 'admin', 't', :at)"
                ),
                {"e": STAFF_ADDRESS, "at": at},
            )
        upgrade()
        stored = _key_ids(app)
        assert all(ids == {"dev"} for ids in stored.values()), stored
        assert _read_everything(app) == set(ADDRESSES) | {STAFF_ADDRESS}
        msg = db.session.get(OutboundMessage, 1)
        assert msg is not None and msg.to_email_hash == box.hash(NEW_ADDRESS)
        db.session.remove()
        downgrade(revision="0017")
        with db.engine.connect() as conn:
            plain = conn.execute(
                text(
                    "SELECT c.email, i.email, m.to_email, a.new_email, s.email FROM contacts c, "
                    "invitations i, outbound_messages m, address_changes a, staff_users s"
                )
            ).one()
        db.engine.dispose()
    assert tuple(plain) == (CONTACT, INVITEE, NEW_ADDRESS, NEW_ADDRESS, STAFF_ADDRESS)


def test_the_migration_matches_the_models(app: Flask) -> None:
    ours = {(t, c) for t, c, h in keys.PLACES} | {(t, h) for t, c, h in keys.PLACES}
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [
            d
            for d in compare_metadata(context, db.metadata)
            if any(f"'{t}'" in repr(d) and f"'{c}'" in repr(d) for t, c in ours)
        ]
    assert diff == []
