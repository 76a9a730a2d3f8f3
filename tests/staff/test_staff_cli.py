"""`invites users`: the operator makes the first admin, lists staff, disables and enables them,
resets a forgotten password and a lost phone's two-factor sign-in."""

from __future__ import annotations

from click.testing import CliRunner, Result
from flask import Flask

from invites.cli import cli
from invites.core import audit
from invites.core.db import db, utcnow
from invites.staff import users
from invites.staff.cli import users_group

from ..core.test_cli import NO_CONFIGURATION
from ..support.staff import PASSWORD, enrol_two_factor


def _run(app: Flask, *args: str, stdin: str | None = None) -> Result:
    return app.test_cli_runner().invoke(args=["users", *args], input=stdin)


def test_every_users_command_has_help_with_no_configuration() -> None:
    runner = CliRunner()
    assert "users" in runner.invoke(cli, ["--help"], env=NO_CONFIGURATION).output
    for name, command in users_group.commands.items():
        assert command.help, f"users {name} has no help text"
        shown = runner.invoke(cli, ["users", name, "--help"], env=NO_CONFIGURATION)
        assert shown.exit_code == 0, shown.output
        assert " ".join(shown.output.split()).find(command.help.split(";")[0]) > 0


def test_create_from_stdin_then_sign_in(app: Flask) -> None:
    done = _run(
        app,
        "create",
        "Boss@Example.com",
        "--role",
        "admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert done.exit_code == 0, done.output
    assert done.output == "created boss@example.com (admin)\n"
    assert PASSWORD not in done.output
    with app.app_context():
        assert users.check_password(db.session, "boss@example.com", PASSWORD, now=utcnow())


def test_create_prompts_twice(app: Flask) -> None:
    done = _run(
        app, "create", "mia@example.com", "--role", "marketing", stdin=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert done.exit_code == 0, done.output
    assert done.output.count("Password") == 1 and "Repeat for confirmation" in done.output
    differ = _run(
        app,
        "create",
        "max@example.com",
        "--role",
        "marketing",
        stdin=f"{PASSWORD}\nsomething else entirely\n",
    )
    assert differ.exit_code != 0
    assert "max@example.com" not in _run(app, "list").output


def test_errors_are_one_line(app: Flask) -> None:
    short = _run(
        app, "create", "a@example.com", "--role", "admin", "--password-stdin", stdin="too short\n"
    )
    assert short.exit_code == 1
    assert short.output == "Error: the password must be at least 12 characters long\n"
    _run(app, "create", "a@example.com", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    again = _run(
        app, "create", "A@example.com", "--role", "admin", "--password-stdin", stdin=PASSWORD
    )
    assert again.exit_code == 1
    assert again.output == "Error: a staff user a@example.com exists already\n"
    empty = _run(app, "create", "b@example.com", "--role", "admin", "--password-stdin", stdin="")
    assert empty.output == "Error: --password-stdin: no password on standard input\n"
    bad_role = _run(
        app, "create", "b@example.com", "--role", "root", "--password-stdin", stdin=PASSWORD
    )
    assert bad_role.exit_code == 2 and "'root' is not one of" in bad_role.output
    zone = _run(
        app,
        "create",
        "b@example.com",
        "--role",
        "admin",
        "--password-stdin",
        "--time-zone",
        "Mars/Olympus",
        stdin=PASSWORD,
    )
    assert zone.exit_code == 1 and zone.output.count("\n") == 1 and "Mars/Olympus" in zone.output


def test_list_and_disable(app: Flask) -> None:
    for email, role in (("boss@example.com", "admin"), ("mia@example.com", "marketing")):
        _run(app, "create", email, "--role", role, "--password-stdin", stdin=PASSWORD)
    listed = _run(app, "list").output.splitlines()
    assert listed == [
        "boss@example.com\tadmin\tenabled\tnever\tpassword only",
        "mia@example.com\tmarketing\tenabled\tnever\tpassword only",
    ]
    done = _run(app, "disable", "MIA@example.com")
    assert done.exit_code == 0 and done.output == "disabled mia@example.com\n"
    assert (
        _run(app, "disable", "mia@example.com").output == "mia@example.com was disabled already\n"
    )
    assert (
        _run(app, "list").output.splitlines()[1].startswith("mia@example.com\tmarketing\tdisabled ")
    )
    with app.app_context():
        assert users.check_password(db.session, "mia@example.com", PASSWORD, now=utcnow()) is None
    unknown = _run(app, "disable", "nobody@example.com")
    assert unknown.exit_code == 1 and unknown.output == "Error: no staff user nobody@example.com\n"
    last = _run(app, "disable", "boss@example.com")
    assert last.exit_code == 1
    assert last.output == ("Error: this is the last enabled admin; make another admin first\n")


def test_reset_password_asks_twice_or_reads_stdin_and_ends_sessions(app: Flask) -> None:
    _run(app, "create", "boss@example.com", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    with app.app_context():
        user = users.find_by_email(db.session, "boss@example.com")
        assert user is not None
        token = user.session_token
        db.session.remove()
    new = "the forgotten one, replaced"
    differ = _run(app, "reset-password", "boss@example.com", stdin=f"{new}\nsomething else\n")
    assert differ.exit_code != 0
    done = _run(app, "reset-password", "BOSS@example.com", stdin=f"{new}\n{new}\n")
    assert done.exit_code == 0, done.output
    assert done.output.endswith(
        "new password set for boss@example.com; their sessions have ended\n"
    )
    assert new not in done.output
    with app.app_context():
        user = users.check_password(db.session, "boss@example.com", new, now=utcnow())
        assert user is not None and user.session_token != token
        db.session.rollback()
        event = audit.events_for(db.session, "staff_user", user.id)[0]
        assert (event.action, event.actor, event.details) == (
            "staff.password_reset",
            audit.operator().label,  # the login name of whoever ran the command
            {"via": "cli"},
        )
    again = "and once more, from a script"
    scripted = _run(
        app, "reset-password", "boss@example.com", "--password-stdin", stdin=again + "\n"
    )
    assert scripted.exit_code == 0, scripted.output
    with app.app_context():
        assert users.check_password(db.session, "boss@example.com", again, now=utcnow())
    short = _run(app, "reset-password", "boss@example.com", "--password-stdin", stdin="short\n")
    assert short.output == "Error: the password must be at least 12 characters long\n"
    unknown = _run(app, "reset-password", "nobody@example.com", "--password-stdin", stdin=again)
    assert unknown.exit_code == 1 and unknown.output == "Error: no staff user nobody@example.com\n"


def test_enable_lets_a_disabled_user_sign_in_again(app: Flask) -> None:
    _run(app, "create", "boss@example.com", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    _run(
        app, "create", "mia@example.com", "--role", "marketing", "--password-stdin", stdin=PASSWORD
    )
    assert _run(app, "disable", "mia@example.com").exit_code == 0
    done = _run(app, "enable", "Mia@example.com")
    assert done.exit_code == 0 and done.output == "enabled mia@example.com\n"
    assert _run(app, "enable", "mia@example.com").output == "mia@example.com was enabled already\n"
    with app.app_context():
        assert users.check_password(db.session, "mia@example.com", PASSWORD, now=utcnow())
        db.session.rollback()
        mia = users.find_by_email(db.session, "mia@example.com")
        assert mia is not None
        assert audit.events_for(db.session, "staff_user", mia.id)[0].action == "staff.enabled"
    assert _run(app, "enable", "nobody@example.com").exit_code == 1


def test_reset_two_factor_for_a_lost_phone(app: Flask) -> None:
    _run(app, "create", "boss@example.com", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    with app.app_context():
        boss = users.find_by_email(db.session, "boss@example.com")
        assert boss is not None
        boss_id = boss.id
        db.session.remove()
    enrol_two_factor(app, boss_id)
    assert _run(app, "list").output.split("\t")[-1] == "two-factor\n"
    done = _run(app, "reset-two-factor", "boss@example.com")
    assert done.exit_code == 0
    assert done.output == (
        "two-factor sign-in of boss@example.com is off; they can set it up again\n"
    )
    assert _run(app, "list").output.split("\t")[-1] == "password only\n"
    assert _run(app, "reset-two-factor", "boss@example.com").output == (
        "boss@example.com had no two-factor sign-in\n"
    )
    with app.app_context():
        event = audit.events_for(db.session, "staff_user", boss_id)[0]
        assert (event.action, event.details) == ("staff.two_factor_reset", {"via": "cli"})
