"""The staff_users table and the roles a staff member can have."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from invites.core.atrest import SEALED_LENGTH, SealedAddress
from invites.core.audit import staff_label
from invites.core.db import db, utcnow


class Role(enum.StrEnum):
    """What a staff member may do in the console."""

    #: Campaigns: write, test, schedule, send, watch.
    MARKETING = "marketing"
    #: Everything marketing may, plus staff users, API keys and the audit log.
    ADMIN = "admin"
    #: Support for people's data requests: start one for someone who wrote in, record "stop
    #: all marketing", follow requests. Never sees the data itself.
    PRIVACY = "privacy"


#: Every role, for routes open to all signed-in staff.
ALL_ROLES = frozenset(Role)

#: Stored as text with a CHECK constraint (not a PostgreSQL ENUM type), so a new role is a
#: one-line constraint change on both databases.
ROLE_TYPE = Enum(
    Role,
    name="role",
    native_enum=False,
    create_constraint=True,
    length=16,
    values_callable=lambda roles: [r.value for r in roles],
)


class StaffUser(db.Model):  # type: ignore[name-defined]
    """A person who signs in to the console. Never deleted, only disabled (the audit log
    keeps pointing at them)."""

    __tablename__ = "staff_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    #: The login, sealed (invites.core.atrest); read and write it as `email`. Still UNIQUE
    #: (a sealed value never repeats: each has its own nonce), as the table was made: on
    #: SQLite dropping it would mean rebuilding a table other tables reference.
    email_sealed: Mapped[str] = mapped_column("email", String(SEALED_LENGTH), unique=True)
    #: The keyed hash of the login: what sign-in finds the account by, and what keeps two
    #: accounts from having one address (also when they are created at the same moment).
    email_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    #: The login, in the one form `users.normalize_email` gives: lower case, IDNA domain.
    email = SealedAddress[str]("staff_users.email", "email_sealed", "email_hash")
    #: An argon2id PHC string; it names its own parameters, so they can change over time.
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(ROLE_TYPE)
    #: IANA name used to show times to this person; None means UTC.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    #: Part of the session's user id: replacing it ends every session of this user at once
    #: (a signed cookie session can't be revoked any other way).
    session_token: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    #: The TOTP secret, sealed (invites.core.sealed) and bound to this row; None: no
    #: two-factor. Set but not yet enabled: an enrolment waiting for its first code.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    #: When two-factor sign-in was confirmed with a first code.
    totp_enabled_at: Mapped[datetime | None]
    #: The last 30-second time step whose code was accepted; a code never works twice.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    @property
    def label(self) -> str:
        """How the audit log and other records name this account: never by its address."""
        return staff_label(self.id)

    @property
    def has_two_factor(self) -> bool:
        """Whether sign-in asks this user for a code after the password."""
        return self.totp_enabled_at is not None and self.totp_secret is not None

    # Flask-Login's user protocol, written out so this module needs nothing from HTTP.
    @property
    def is_active(self) -> bool:
        """Whether the account may sign in (not disabled)."""
        return self.disabled_at is None

    @property
    def is_authenticated(self) -> bool:
        """An enabled user loaded from a session is signed in."""
        return self.is_active

    @property
    def is_anonymous(self) -> bool:
        """Never: anonymous visitors are Flask-Login's own object."""
        return False

    def get_id(self) -> str:
        """The id a session stores: row id and session token, so a new token ends sessions."""
        return f"{self.id}:{self.session_token}"


class StaffRecoveryCode(db.Model):  # type: ignore[name-defined]
    """A one-time code that stands in for a TOTP code once (a lost phone). Only its hash is
    kept: the codes are random (80 bits), so a fast hash is as good as a slow one here."""

    __tablename__ = "staff_recovery_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    #: SHA-256 of the code in its one written form (lower case, no dashes or spaces), hex.
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Set once, by a conditional UPDATE: a code used in two requests at once works in one.
    used_at: Mapped[datetime | None]
