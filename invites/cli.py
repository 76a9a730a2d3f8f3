"""The `invites` command: Flask's CLI plus worker, scheduler, API keys and mail tools."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

from invites import devrun
from invites.campaigns.cli import campaigns
from invites.core import queue, settings_file
from invites.core.apikeys import SCOPES
from invites.privacy.keys import keys_group
from invites.staff.cli import users_group

log = logging.getLogger(__name__)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Drain the queues, then exit.")
@click.option("--simple", is_flag=True, help="Run jobs in this process instead of a forked child.")
@click.option(
    "--queues",
    "-q",
    default=",".join(queue.QUEUES),
    show_default=True,
    help="Comma-separated queues, highest priority first.",
)
@with_appcontext
def worker_command(burst: bool, simple: bool, queues: str) -> None:
    """Run an RQ worker for the mail queues (any number, on any machine)."""
    from invites.delivery.worker import run_worker

    names = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(names) - set(queue.QUEUES))
    if unknown:
        raise click.BadParameter(f"unknown queue(s) {unknown}; known: {list(queue.QUEUES)}")
    run_worker(names, burst=burst, simple=simple)


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run RQ's cron scheduler: outbox reconciler, retention and clean-up jobs."""
    from invites.delivery.worker import run_scheduler

    run_scheduler()


@click.group("api-keys")
def api_keys() -> None:
    """Manage API keys for the app backend."""


@api_keys.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(SCOPES),
    help="A scope to grant (repeatable).",
)
@with_appcontext
def create_key(name: str, scopes: tuple[str, ...]) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from invites.core import apikeys, audit
    from invites.core.db import db, utcnow

    try:
        row, secret = apikeys.create(db.session, name, list(scopes), utcnow())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    audit.record(
        db.session,
        actor=audit.operator(),
        action="api_key.created",
        target_type="api_key",
        target_id=row.prefix,
        detail={"name": row.name, "scopes": row.scopes, "via": "cli"},
    )
    db.session.commit()
    click.echo(secret)
    click.echo(
        f"created key {row.prefix} '{row.name}' with scopes {row.scopes}; "
        "store it now, it is not shown again",
        err=True,
    )


@api_keys.command("list")
@with_appcontext
def list_keys() -> None:
    """List API keys (prefix, name, scopes, state) without secrets."""
    from invites.core.db import db
    from invites.core.models import ApiKey

    for row in db.session.scalars(select(ApiKey).order_by(ApiKey.id)):
        state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
        click.echo(f"{row.prefix}\t{row.name}\t{row.scopes}\t{state}")


@api_keys.command("revoke")
@click.argument("prefix")
@with_appcontext
def revoke_key(prefix: str) -> None:
    """Revoke the API key with this prefix."""
    from invites.core import apikeys, audit
    from invites.core.db import db, utcnow

    row = apikeys.revoke(db.session, prefix, utcnow())
    if row is None:
        raise click.ClickException(f"no API key with prefix {prefix}")
    if db.session.is_modified(row):  # revoking a revoked key again changes nothing to audit
        audit.record(
            db.session,
            actor=audit.operator(),
            action="api_key.revoked",
            target_type="api_key",
            target_id=row.prefix,
            detail={"name": row.name, "via": "cli"},
        )
    db.session.commit()
    click.echo(f"revoked {prefix}")


@click.group("mail")
def mail() -> None:
    """Mail tools."""


@mail.command("send-test")
@click.argument("address")
@with_appcontext
def send_test(address: str) -> None:
    """Send a test message to ADDRESS through the configured transport, now."""
    from invites.core.addresses import InvalidAddress, normalize
    from invites.core.mail import message_domain
    from invites.delivery.jobs import transport
    from mailer import MailError, compose

    try:
        to = normalize(address)
    except InvalidAddress as exc:
        raise click.BadParameter(str(exc)) from exc
    sender = current_app.config["SETTINGS"].mail_from_service
    msg = compose(
        sender=sender,
        to=to,
        subject="SpotCam Mail test message",
        text="This is a test message from SpotCam Mail.\n",
        html="<p>This is a test message from <b>SpotCam Mail</b>.</p>",
        message_id_domain=message_domain(sender),
    )
    try:
        with transport() as t:
            t.send(msg)
    except MailError as exc:
        raise click.ClickException(f"sending failed: {exc}") from exc
    click.echo(f"sent {msg.message_id}")


@click.command("reconcile")
@with_appcontext
def reconcile_command() -> None:
    """Re-enqueue outbox messages left pending (what the scheduler does every minute)."""
    from invites.delivery.jobs import reconcile_outbox

    click.echo(f"re-enqueued {reconcile_outbox()} message(s)")


api_keys.add_command(devrun.demo)

COMMANDS = (
    worker_command,
    scheduler_command,
    api_keys,
    mail,
    reconcile_command,
    users_group,
    campaigns,
    keys_group,
    devrun.dev,
)


def init_app(app: Flask) -> None:
    """Register the commands on the app's CLI too (for `app.test_cli_runner()`)."""
    for command in COMMANDS:
        app.cli.add_command(command)


def _create_app() -> Flask:
    from invites import create_app
    from invites.core.config import ConfigError

    try:
        return create_app()
    except ConfigError as exc:
        # One line that says what to set, not a traceback.
        raise click.ClickException(str(exc)) from exc


class InvitesGroup(FlaskGroup):
    """Flask's command group, listing its commands without building the app.

    `invites --help` then works with no configuration at all; a command that needs the app
    builds it when it runs, and a missing setting is one line saying what to set.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Our commands, Flask's and its plugins' (Flask-Migrate's `db`), app not loaded."""
        self._load_plugin_commands()
        return sorted(click.Group.list_commands(self, ctx))

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """Parse as Flask does (`--env-file` loads its file), then read instance/settings.env."""
        ctx = super().make_context(info_name, args, parent=parent, **extra)
        # Under the environment and any --env-file: what `make run` left for a new shell.
        settings_file.load()
        return ctx


class MigrationsGroup(click.Group):
    """Flask-Migrate's `db` commands, imported when this group is used, not at start-up.

    Importing them imports Alembic, a third of the start-up of every `invites` command.
    A subcommand's --help is shown before the group's callback runs, which builds the app
    (Flask-Migrate's own group did that first: `invites db upgrade --help` needed settings).
    """

    def _commands(self) -> click.Group:
        from flask_migrate import cli as migrate_cli

        return migrate_cli.db

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Flask-Migrate's subcommands."""
        return self._commands().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """One of Flask-Migrate's subcommands."""
        return self._commands().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Find the subcommand; if it is asked for its help, print it and exit here."""
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and any(a in ctx.help_option_names for a in rest):
            command.make_context(name, rest, parent=ctx)  # --help is eager: prints, then exits
        return name, command, rest


@click.group("db", cls=MigrationsGroup)
@click.option("-d", "--directory", default=None, help="Migration script directory.")
@click.option("-x", "--x-arg", multiple=True, help="Arguments for the migrations' env.py.")
@with_appcontext
def db_group(directory: str | None, x_arg: tuple[str, ...]) -> None:
    """Perform database migrations (Flask-Migrate)."""
    from flask import g

    from invites.core import dbsetup

    dbsetup.migrations(current_app._get_current_object())  # type: ignore[attr-defined]
    # What Flask-Migrate's own group callback records for its subcommands.
    g.directory, g.x_arg = directory, x_arg


# load_dotenv=False: no .env or .flaskenv picked up from wherever the shell stands; the
# settings come from the environment, --env-file, and instance/settings.env, in that order.
@click.group(cls=InvitesGroup, create_app=_create_app, add_version_option=False, load_dotenv=False)
def cli() -> None:
    """SpotCam Mail: invitations and email. Run `invites COMMAND --help` for details."""


for _command in COMMANDS:
    cli.add_command(_command)
cli.add_command(db_group)


def main() -> None:
    """Entry point of the `invites` console script."""
    sys.exit(cli.main())
