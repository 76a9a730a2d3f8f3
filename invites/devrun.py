"""`make run`'s own steps: the settings file, the demo API key, and the banner once all is up.

`invites dev prepare` leaves a checkout where every command `make run` and the README print
works in a new shell; `invites dev banner` prints the URLs and the demo key after the web
server answers, so they are the last lines on the screen, not the first of a scrolling log.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
import urllib.error
import urllib.request
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import ScriptInfo, with_appcontext
from sqlalchemy import select

from invites.core import apikeys, audit, config, dbsetup, settings_file
from invites.core.db import db, utcnow
from invites.core.models import ApiKey

#: The demo key's name, and the file in the instance folder that keeps its secret (mode 0600).
DEMO_NAME = "demo"
DEMO_FILE = "demo-api-key"
#: What `make run` prints to run a command: the checkout's own virtualenv.
INVITES = ".venv/bin/invites"


def _development_only(app: Flask) -> None:
    if app.config["SETTINGS"].env == "production":
        # A key with every scope, its secret in a file: for trying the service, not for running it.
        raise click.ClickException("this is for development only (SPOTCAM_ENV is production)")


def _active(secret: str) -> bool:
    row = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == apikeys.digest(secret)))
    return row is not None and row.revoked_at is None


def _audit_key(action: str, row: ApiKey) -> None:
    audit.record(
        db.session,
        actor=audit.operator(),
        action=action,
        target_type="api_key",
        target_id=row.prefix,
        detail={"name": row.name, "via": "cli"},
    )


def demo_key(app: Flask, fresh: bool = False) -> tuple[str, bool]:
    """The demo key kept in the instance folder if it still works, else a new one; and if new.

    A new one revokes every earlier demo key: a key with every scope should not outlive the
    only copy of its secret.
    """
    file = Path(app.instance_path) / DEMO_FILE
    kept = file.read_text(encoding="utf-8").strip() if file.is_file() else ""
    if kept and not fresh and _active(kept):
        return kept, False
    now = utcnow()
    for row in db.session.scalars(
        select(ApiKey).where(ApiKey.name == DEMO_NAME, ApiKey.revoked_at.is_(None))
    ):
        row.revoked_at = now
        _audit_key("api_key.revoked", row)
    row, secret = apikeys.create(db.session, DEMO_NAME, list(apikeys.SCOPES), now)
    _audit_key("api_key.created", row)
    file.unlink(missing_ok=True)
    descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(secret + "\n")
    # Committed only once the secret is safe in its file.
    db.session.commit()
    return secret, True


@click.group("dev")
def dev() -> None:
    """Prepare and announce a development run (what `make run` does)."""


@dev.command("prepare")
@click.option("--port", type=int, default=5000, envvar="PORT", show_default=True)
@click.pass_context
def prepare(ctx: click.Context, port: int) -> None:
    """Write instance/settings.env, migrate the database, make sure a demo API key exists."""
    from flask_migrate import upgrade

    mode = os.environ.get("SPOTCAM_ENV", "development")
    if mode == "production":
        raise click.ClickException("this is for development only (SPOTCAM_ENV is production)")
    values = {"SPOTCAM_ENV": mode, "PORT": str(port)}
    if not os.environ.get("DATA_KEYS") and not settings_file.has("DATA_KEYS"):
        values["DATA_KEYS"] = _new_data_keys()
    file = settings_file.write(values)
    settings_file.load(file)  # this very command reads it too, under what the shell set
    app = ctx.ensure_object(ScriptInfo).load_app()
    dbsetup.migrations(app)
    with app.app_context():
        upgrade()
        _secret, new = demo_key(app)
    click.echo(f"Settings: {file} (every `invites` command in this checkout reads it)")
    if new:
        click.echo(f"API key: a new demo key, kept in {Path(app.instance_path) / DEMO_FILE}")


def _new_data_keys() -> str:
    # A key of this checkout's own first; the fixed development key after it, so what was
    # sealed before the settings file existed still opens (`invites keys rotate` moves it).
    fresh = base64.b64encode(secrets.token_bytes(32)).decode()
    return f"local-{secrets.token_hex(3)}:{fresh},{config.DEV_DATA_KEYS}"


def _wait_until_ready(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - our own URL
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


@dev.command("banner")
@click.option("--wait", "wait_seconds", type=float, default=0, help="Wait for /readyz first.")
@with_appcontext
def banner(wait_seconds: float) -> None:
    """Print the URLs, the demo API key and how to get another (after the web server is up)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    _development_only(app)
    base = f"http://127.0.0.1:{app.config['SETTINGS'].port}"
    if wait_seconds and not _wait_until_ready(base + "/readyz", wait_seconds):
        click.echo(f"The web server did not answer {base}/readyz within {wait_seconds:.0f} s.")
    secret, _new = demo_key(app)
    key_file = Path(app.instance_path) / DEMO_FILE
    lines = [
        "",
        f"Web:     {base}/",
        f"Outbox:  {base}/dev/outbox",
        f"API:     {base}/api/v1/openapi.json",
        f"Console: {base}/console/ (first: {INVITES} users create EMAIL --role admin)",
        f"API key: {secret}",
        f"         (kept in {key_file}; a new one: {INVITES} api-keys demo --new)",
        f"Every `invites` command here reads {settings_file.path()}. Ctrl-C stops all three.",
    ]
    click.echo("\n".join(lines))


@click.command("demo")
@click.option("--new", "fresh", is_flag=True, help="Revoke the demo key and make another.")
@with_appcontext
def demo(fresh: bool) -> None:
    """Print the development demo key (every scope), made if missing; --new for another."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    _development_only(app)
    secret, new = demo_key(app, fresh)
    click.echo(secret)
    if new:
        click.echo(f"a new demo key; earlier ones are revoked ({DEMO_FILE} keeps it)", err=True)
