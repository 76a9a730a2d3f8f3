"""gunicorn's settings file, read from the working directory: the metrics of exited workers.

Each web worker writes its metrics to files of its own (invites/core/metrics.py); when one
exits, its files are folded into the totals at once, so /metrics never reads a pile of them.
"""

from __future__ import annotations

from typing import Any

from invites.core import metrics

#: The metrics directory, found once as the master starts: an exit must cost nothing more.
_directory: str | None = None


def on_starting(server: Any) -> None:
    """Find the metrics directory the workers will write to (the master builds no app)."""
    global _directory
    try:
        _directory = metrics.directory_from_env()
    except Exception:  # noqa: BLE001 - a settings error is the workers' to report
        server.log.warning("metrics directory not known; exited workers' files wait for a scrape")


def child_exit(server: Any, worker: Any) -> None:
    """Fold the exited worker's metric files into the totals (runs in the master)."""
    if _directory is None:
        return
    try:
        metrics.process_exited(worker.pid, _directory)
    except Exception:  # noqa: BLE001 - the master must outlive a metrics problem
        server.log.exception("metrics of worker %s not folded; the next scrape will", worker.pid)
