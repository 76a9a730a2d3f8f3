"""The CLI where it is printed: in a checkout where `make run`'s set-up ran once, every
command `make run` and the README print works in a new shell with no settings in it, and
every command's --help works with no settings at all."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from invites.core.config import Settings
from invites.core.queue import stop_embedded

from ..support.campaigns import make_campaign
from ..support.helpers import ROOT, free_port, make_app, new_key
from ..support.staff import make_staff
from ..support.wait import until

PASSWORD = "a long enough password"  # noqa: S105 - typed at the prompts below
#: What a clone holds that the commands need (no .venv, no instance/).
CHECKOUT = (
    "invites",
    "mailer",
    "migrations",
    "templates",
    "Makefile",
    "pyproject.toml",
    "README.md",
)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of this checkout with a .venv of its own whose `invites` runs the copy's code.

    Its site-packages reach the installed dependencies through a .pth file, so making it costs
    a tenth of a second instead of a pip install; the stamp tells make it is installed.
    """
    root = tmp_path_factory.mktemp("checkout")
    for name in CHECKOUT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    venv = root / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    found = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    # The copy first, so `import invites` finds it and not this checkout's editable install.
    installed = sysconfig.get_paths()["purelib"]
    Path(found.stdout.strip(), "checkout.pth").write_text(f"{root}\n{installed}\n")
    script = venv / "bin" / "invites"
    script.write_text(f"#!{python}\nimport sys\nfrom invites.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    (venv / ".installed").touch()
    yield root
    stop_embedded(str(root / "instance"))


def _new_shell(checkout: Path) -> dict[str, str]:
    """A new shell's environment: the checkout's virtualenv on PATH, and no setting at all."""
    return {
        "PATH": f"{checkout / '.venv' / 'bin'}:/usr/bin:/bin",
        "HOME": str(checkout),
        "LANG": "C.UTF-8",
        "PASSWORD": PASSWORD,  # the README's `printf '%s\n' "$PASSWORD" | invites ...`
    }


def _sh(command: str, checkout: Path, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    # A session of its own: no terminal, so password prompts read the stdin given here.
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env={**_new_shell(checkout), **extra},
        input=f"{PASSWORD}\n{PASSWORD}\n",
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
        check=False,
    )


_HELP_WALK = r"""
import json, click
from click.testing import CliRunner
from invites.cli import cli

def paths(group, prefix):
    ctx = click.Context(group, info_name=prefix[-1] if prefix else "invites")
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield prefix + [name]
        if isinstance(command, click.Group):
            yield from paths(command, prefix + [name])

failures = {}
for path in [[]] + list(paths(cli, [])):
    result = CliRunner().invoke(cli, path + ["--help"])
    if result.exit_code != 0 or "Usage:" not in result.output:
        failures[" ".join(path)] = result.output[-300:]
print(json.dumps({"failures": failures, "count": len(list(paths(cli, []))) + 1}))
"""


def test_every_help_works_with_no_settings_at_all(checkout: Path, tmp_path: Path) -> None:
    assert not (checkout / "instance").exists()  # before any set-up: nothing to read
    walk = _sh(f"python -c {_quote(_HELP_WALK)}", checkout, tmp_path)
    assert walk.returncode == 0, walk.stderr
    found = json.loads(walk.stdout)
    assert found["failures"] == {} and found["count"] > 30, found
    # And as typed, where Flask-Migrate's group used to build the app first.
    for command in ("invites --help", "invites db --help", "invites db upgrade --help"):
        done = _sh(command, checkout, tmp_path)
        assert done.returncode == 0 and "Usage:" in done.stdout, (command, done.stderr)
    assert not (checkout / "instance").exists()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _readme_commands(readme: str) -> list[str]:
    """Every `invites` command in the README: its shell examples (continuation lines joined)
    and the ones quoted in its text, each once."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", readme, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if re.search(r"(^|\$\(|\|\s*)(\.venv/bin/)?invites\s", line):
                commands.append(re.sub(r"\s+", " ", line))
    quoted = re.findall(r"`((?:\.venv/bin/)?invites [^`]+)`", readme)
    commands += [re.sub(r"\s+", " ", command) for command in quoted]
    return list(dict.fromkeys(commands))


def _runnable(command: str, values: dict[str, str]) -> str:
    """The command with its placeholders filled in and its optional parts given."""
    command = re.sub(r"\[(--[^\]]+)\]", r"\1", command)  # `[--once]` → `--once`
    for placeholder, value in values.items():
        command = re.sub(rf"(?<![\w<]){re.escape(placeholder)}(?![\w>])", value, command)
    return command


def test_every_command_make_run_and_the_readme_print_works_in_a_new_shell(
    checkout: Path, settings: Settings, tmp_path: Path
) -> None:
    port = str(free_port())
    prepared = _sh(f"make -s prepare PORT={port}", checkout, checkout)
    assert prepared.returncode == 0, prepared.stderr
    instance = checkout / "instance"
    for private in ("settings.env", "demo-api-key"):
        assert stat.S_IMODE((instance / private).stat().st_mode) == 0o600, private
    assert "SPOTCAM_ENV=development" in (instance / "settings.env").read_text()

    # What `make run` prints once everything is up, from anywhere (here: another folder).
    banner = _sh("invites dev banner", checkout, tmp_path)
    assert banner.returncode == 0, banner.stderr
    key = (instance / "demo-api-key").read_text().strip()
    assert f"API key: {key}" in banner.stdout and f"127.0.0.1:{port}/" in banner.stdout
    printed = re.findall(r"(\.venv/bin/invites [^;)\n]+)", banner.stdout)
    assert ".venv/bin/invites users create EMAIL --role admin" in printed, banner.stdout

    # What the README's examples act on: a staff user, a campaign, a key to revoke.
    local = make_app(
        dataclasses.replace(settings, database_url=f"sqlite:///{instance / 'spotcam.db'}")
    )
    values = {
        "EMAIL": "first.admin@spotcam.example",
        "ADDRESS": "ops@example.com",
        "ID": str(_campaign(local)),
        "<prefix>": new_key(local, ["stats"]).split("_")[1],
        "FILE": str(tmp_path / "ops.env"),  # `invites --env-file FILE COMMAND`
        "COMMAND": "api-keys list",
    }
    (tmp_path / "ops.env").write_text("PORT=7002\n")
    make_staff(local, "mia@spotcam.example")
    readme = _readme_commands((checkout / "README.md").read_text())
    assert len(readme) > 15, readme
    groups = {"invites users", "invites campaigns", "invites api-keys", "invites db"}
    # Each command once, whether typed as `.venv/bin/invites ...` or as `invites ...`.
    once = {c.replace(".venv/bin/invites", "invites"): c for c in reversed([*printed, *readme])}
    for command in reversed(once.values()):
        runnable = _runnable(command, values)
        # `.venv/bin/invites` is typed in the checkout; a plain `invites` (the virtualenv on
        # PATH) anywhere: here, another folder.
        where = checkout if ".venv/bin/" in runnable else tmp_path
        bare = runnable.replace(".venv/bin/invites", "invites")
        if bare == "invites scheduler":
            _runs_until_stopped(runnable, checkout, where, "scheduler started")
            continue
        if bare == "invites run":  # the web server, on a port of its own here
            command_line = f"{runnable} --port {free_port()}"
            _runs_until_stopped(command_line, checkout, where, "Running on", signal.SIGINT)
            continue
        if re.match(r"invites worker\b", bare):
            runnable += " --burst"  # drains the queues and exits, instead of running on
        if bare in groups:
            runnable += " --help"  # a group named in the text: what it offers
        done = _sh(runnable, checkout, where)
        assert done.returncode == 0, (command, runnable, done.stdout[-500:], done.stderr[-2000:])
        assert "Traceback" not in done.stderr, (runnable, done.stderr[-2000:])

    # The environment wins over the settings file; --env-file sits between the two.
    other = _sh("invites dev banner", checkout, tmp_path, PORT="7001")
    assert "127.0.0.1:7001/" in other.stdout, other.stderr
    chosen = _sh(f"invites --env-file {tmp_path / 'ops.env'} dev banner", checkout, tmp_path)
    assert "127.0.0.1:7002/" in chosen.stdout, chosen.stderr


def _campaign(app: Flask) -> int:
    return make_campaign(app)


def _runs_until_stopped(
    command: str, checkout: Path, cwd: Path, started: str, stop: int = signal.SIGTERM
) -> None:
    """A long-running command starts, says so, and stops cleanly when told to (Ctrl-C: SIGINT)."""
    log = cwd / "long-running.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=cwd,
            env=_new_shell(checkout),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        until(lambda: started in log.read_text() or proc.poll() is not None, f"{command}")
        assert proc.poll() is None, log.read_text()[-2000:]
    finally:
        os.killpg(proc.pid, stop)
        proc.wait(timeout=60)
    assert proc.returncode == 0, log.read_text()[-2000:]
