"""The app over real HTTP: werkzeug's threaded server in this process, or gunicorn."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from flask import Flask
from werkzeug.serving import make_server

from invites.core.config import Settings

from .helpers import ROOT, env_for, free_port, make_app
from .wait import until


@contextmanager
def serve(settings: Settings, **overrides: Any) -> Iterator[tuple[Flask, str]]:
    """The app over real HTTP on a free port (threaded: requests run side by side), with
    these settings changed; its links point at it."""
    server = make_server("127.0.0.1", 0, Flask(__name__), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app = make_app(settings, public_base_url=base, **overrides)
    server.app = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, base
    finally:
        server.shutdown()


@contextmanager
def gunicorn(settings: Settings, workers: int = 1, **env: str) -> Iterator[str]:
    """The app under gunicorn, as in production, with these settings (and variables)."""
    port = free_port()
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-w", str(workers)]
        + ["-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT,
        env=env_for(settings) | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(base + "/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        until(up, "gunicorn to answer", seconds=30)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
