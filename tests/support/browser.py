"""What the browser stories share: signing in, screenshots for the README, and the worker and
scheduler a story's console clicks need behind it."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask

from . import spawn
from .helpers import env_for
from .staff import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Page


def shot(page: Page, tmp_path: Path, name: str) -> None:
    """docs/ (or wherever SCREENSHOT_DIR points) for the README; else this test's tmp folder."""
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)


def sign_in(page: Page, base: str, email: str, password: str = PASSWORD) -> None:
    """Sign in on the console's login page and land on its home page."""
    page.goto(base + "/console/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#sign-in")
    assert page.url == base + "/console/"


@contextmanager
def worker_and_scheduler(app: Flask) -> Iterator[None]:
    """A real worker on both queues and the scheduler, as separate processes, for the block."""
    env = env_for(app.config["SETTINGS"])
    procs = [
        spawn.popen(
            args,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for args in (["worker", "--queues", "mail,campaigns"], ["scheduler"])
    ]
    try:
        yield
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
