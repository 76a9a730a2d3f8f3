"""The warm parent the tests start `invites` processes from (tests/support/spawn.py) gives what
an exec of the console script gives: the same output and exit code, settings read from the
child's own environment, a process of its own that a signal ends."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from flask import Flask

from invites.core.config import Settings

from ..support import spawn
from ..support.helpers import ROOT, env_for
from ..support.staff import make_staff
from ..support.wait import until


def _exec(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(spawn.INVITES), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_forked_command_answers_as_the_console_script_does(settings: Settings) -> None:
    env = env_for(settings)
    for args, code in (
        (["worker", "--queues", "nope"], 2),
        (["users", "--help"], 0),
        (["no-such-command"], 2),
    ):
        forked, executed = spawn.run(args, env=env, timeout=60), _exec(args, env)
        assert forked.returncode == executed.returncode == code, args
        assert (forked.stdout, forked.stderr) == (executed.stdout, executed.stderr), args
        assert forked.stdout or forked.stderr


def test_each_child_reads_its_settings_from_its_own_environment(
    app: Flask, settings: Settings, tmp_path: Path
) -> None:
    make_staff(app, "ann@example.com")
    other = env_for(settings) | {"DATABASE_URL": f"sqlite:///{tmp_path}/empty.db"}
    mine = spawn.run(["users", "list"], env=env_for(settings), timeout=60)
    assert mine.returncode == 0 and "ann@example.com" in mine.stdout, mine.stderr
    # The same zygote, another environment: another database (one with no tables at all).
    theirs = spawn.run(["users", "list"], env=other, timeout=60)
    assert theirs.returncode != 0 and "ann@example.com" not in theirs.stdout + theirs.stderr
    assert "no such table" in theirs.stderr
    # And the first environment again: nothing of the second stayed behind in the parent.
    again = spawn.run(["users", "list"], env=env_for(settings), timeout=60)
    assert again.stdout == mine.stdout


def test_a_child_is_a_process_of_its_own_that_a_signal_ends(
    settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "scheduler.log"
    with log.open("w") as out:
        child = spawn.popen(
            ["scheduler"],
            env=env_for(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    assert child.pid != os.getpid() and os.getpgid(child.pid) == child.pid  # its own session
    until(lambda: "scheduler started" in log.read_text(), "the scheduler to start")
    assert child.poll() is None
    os.killpg(child.pid, signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    # A SIGTERM is a warm stop, as for the console script: exit code 0.
    with log.open("w") as out:
        child = spawn.popen(["scheduler"], env=env_for(settings), stdout=out, stderr=out)
    until(lambda: "scheduler started" in log.read_text(), "the scheduler to start")
    child.terminate()
    assert child.wait(timeout=30) == 0
