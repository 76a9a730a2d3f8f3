"""Long-running `invites` processes (workers, the scheduler), as a supervisor would run them.

Each runs in its own process group, so a test can SIGKILL it whole, and writes its log to a
file the test can read while it runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from invites.core.config import Settings

from . import spawn
from .helpers import env_for


@dataclass
class Process:
    """One running `invites` command and where its log goes."""

    proc: spawn.Child
    log: Path

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.poll() is None

    def text(self) -> str:
        """Everything it has logged so far."""
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL, the process and any work-horse it forked: what a crash does."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@dataclass
class Processes:
    """The processes a test started; all stopped when it ends."""

    folder: Path
    started: list[Process] = field(default_factory=list)

    def start(self, settings: Settings, *args: str) -> Process:
        """Start `invites ARGS` with these settings (e.g. "worker", "--simple")."""
        log = self.folder / f"{args[0]}-{len(self.started)}.log"
        with log.open("wb") as out:
            proc = spawn.popen(
                args,
                env=env_for(settings),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        found = Process(proc, log)
        self.started.append(found)
        return found

    def stop_all(self) -> None:
        """SIGTERM each (a warm stop), SIGKILL what is still running after 20 s."""
        for p in self.started:
            if p.alive():
                os.killpg(p.proc.pid, signal.SIGTERM)
        for p in self.started:
            try:
                p.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def running(folder: Path) -> Iterator[Processes]:
    """For a fixture: processes started in the test, all stopped after it."""
    found = Processes(folder)
    yield found
    found.stop_all()
