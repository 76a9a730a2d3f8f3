"""The `invites` command: keys, test mail, worker, help text."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from invites.cli import cli
from invites.core import settings_file
from invites.core.config import Settings

from ..support import spawn
from ..support.helpers import env_for, invite, make_app, worker_process
from ..support.smtpd import SMTPSink


def _invites(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return spawn.run(args, env=env_for(settings), timeout=60)


def test_api_key_create_prints_once_and_stores_hash(app: Flask, settings: Settings) -> None:
    done = _invites(settings, "api-keys", "create", "backend", "--scope", "invitations")
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip()
    assert secret.startswith("sk_")
    from ..support.helpers import all_database_text

    assert secret not in all_database_text(app)
    assert invite(app.test_client(), secret).status_code == 202
    listed = _invites(settings, "api-keys", "list")
    assert "backend\tinvitations\tactive" in listed.stdout and secret not in listed.stdout
    bad = _invites(settings, "api-keys", "create", "x", "--scope", "everything")
    assert bad.returncode != 0 and "is not one of" in bad.stderr


def test_send_test_mail(settings: Settings, smtp_sink: SMTPSink) -> None:
    app = make_app(settings, smtp_url=smtp_sink.url)
    done = _invites(app.config["SETTINGS"], "mail", "send-test", "ops@example.com")
    assert done.returncode == 0, done.stderr
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ["ops@example.com"]
    assert mail.message["Subject"] == "SpotCam Mail test message"
    assert mail.message["List-Unsubscribe"] is None
    bad = _invites(app.config["SETTINGS"], "mail", "send-test", "not an address")
    assert bad.returncode != 0 and "Invalid value" in bad.stderr


def test_worker_burst_process_sends(settings: Settings, smtp_sink: SMTPSink) -> None:
    app = make_app(settings, smtp_url=smtp_sink.url)
    from ..support.helpers import new_key

    invite(app.test_client(), new_key(app, ["invitations"]), "w@example.com")
    done = worker_process(app.config["SETTINGS"], "--queues", "mail")
    assert done.returncode == 0, done.stderr
    assert smtp_sink.wait_for(1)[0].rcpt_tos == ["w@example.com"]
    bad = worker_process(app.config["SETTINGS"], "--queues", "nope")
    assert bad.returncode != 0 and "unknown queue" in bad.stderr


#: Every variable the service reads, removed: what a new machine's shell looks like.
NO_CONFIGURATION: dict[str, str | None] = {
    f.metadata["env"]: None for f in dataclasses.fields(Settings)
}


def test_every_command_has_help_with_no_configuration() -> None:
    runner = CliRunner()
    top = runner.invoke(cli, ["--help"], env=NO_CONFIGURATION)
    assert top.exit_code == 0, top.output
    for command in ("worker", "scheduler", "api-keys", "mail", "reconcile", "db", "run"):
        assert command in top.output
    for args in (
        ["worker"],
        ["scheduler"],
        ["api-keys", "create"],
        ["api-keys", "list"],
        ["mail", "send-test"],
        ["reconcile"],
        ["db"],  # (Flask-Migrate's group builds the app before a subcommand's --help)
    ):
        shown = runner.invoke(cli, [*args, "--help"], env=NO_CONFIGURATION)
        assert shown.exit_code == 0 and "Usage:" in shown.output, (args, shown.output)


def test_a_command_without_configuration_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Not this checkout's instance/settings.env, which a `make run` here would have written.
    monkeypatch.setattr(settings_file, "path", lambda: tmp_path / "settings.env")
    done = CliRunner().invoke(cli, ["api-keys", "list"], env=NO_CONFIGURATION)

    assert done.exit_code == 1
    assert done.output.strip() == (
        "Error: SECRET_KEY is required outside development and test "
        "(set it, or SPOTCAM_ENV=development for a local try)"
    )
