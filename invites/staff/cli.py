"""`invites users`: staff accounts from the command line (how the first admin is made)."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from invites.core import audit
from invites.core.db import db, utcnow
from invites.staff import recovery, twofactor, users
from invites.staff.errors import StaffError
from invites.staff.models import Role, StaffUser


@click.group("users")
def users_group() -> None:
    """Manage staff accounts for the console."""


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line.strip():
            raise click.ClickException("--password-stdin: no password on standard input")
        return line.rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_group.command("create")
@click.argument("email")
@click.option(
    "--role",
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="marketing: campaigns; admin: also staff users, API keys and the audit log.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of prompting.",
)
@click.option("--time-zone", default=None, help="IANA zone to show times in (default UTC).")
@with_appcontext
def create(email: str, role: str, password_stdin: bool, time_zone: str | None) -> None:
    """Create a staff user with a role; prompts for the password twice unless --password-stdin."""
    password = _password(password_stdin)
    try:
        user = users.create_user(
            db.session,
            email,
            password,
            Role(role),
            now=utcnow(),
            time_zone=time_zone,
            actor=audit.operator(),
        )
    except StaffError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"created {user.email} ({user.role.value})")


@users_group.command("list")
@with_appcontext
def list_users() -> None:
    """List staff users: email, role, state, last sign-in (UTC) and two-factor."""
    for user in users.all_users(db.session):
        state = f"disabled {user.disabled_at:%Y-%m-%d}" if user.disabled_at else "enabled"
        last = f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never"
        factor = "two-factor" if user.has_two_factor else "password only"
        click.echo(f"{user.email}\t{user.role.value}\t{state}\t{last}\t{factor}")


def _user(email: str) -> StaffUser:
    user = users.find_by_email(db.session, email)
    if user is None:
        raise click.ClickException(f"no staff user {email}")
    return user


@users_group.command("disable")
@click.argument("email")
@with_appcontext
def disable(email: str) -> None:
    """Disable a staff user: signed out at their next request, and no new sign-in."""
    user = _user(email)
    try:
        changed = users.disable(db.session, user, actor=audit.operator(), now=utcnow())
    except StaffError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"disabled {user.email}" if changed else f"{user.email} was disabled already")


@users_group.command("enable")
@click.argument("email")
@with_appcontext
def enable(email: str) -> None:
    """Let a disabled staff user sign in again (their old sessions stay ended)."""
    user = _user(email)
    changed = users.enable(db.session, user, actor=audit.operator(), now=utcnow())
    db.session.commit()
    click.echo(f"enabled {user.email}" if changed else f"{user.email} was enabled already")


@users_group.command("reset-password")
@click.argument("email")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the new password from the first line of standard input instead of prompting.",
)
@with_appcontext
def reset_password(email: str, password_stdin: bool) -> None:
    """Set a staff user's new password (asked twice, or --password-stdin); ends sessions."""
    user = _user(email)
    password = _password(password_stdin)
    try:
        recovery.reset_password(
            db.session, user, password, actor=audit.operator(), via="cli", now=utcnow()
        )
    except StaffError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"new password set for {user.email}; their sessions have ended")


@users_group.command("reset-two-factor")
@click.argument("email")
@with_appcontext
def reset_two_factor(email: str) -> None:
    """Turn off a staff user's two-factor sign-in (a lost phone); ends their sessions."""
    user = _user(email)
    changed = twofactor.remove(db.session, user, actor=audit.operator(), now=utcnow())
    db.session.commit()
    if changed:
        click.echo(f"two-factor sign-in of {user.email} is off; they can set it up again")
    else:
        click.echo(f"{user.email} had no two-factor sign-in")
