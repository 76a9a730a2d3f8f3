"""Prometheus metrics every process records: web workers, RQ workers and their work horses.

prometheus-client's multiprocess mode: each process writes its counters and histograms to
files of its own (`counter_<pid>.db`, ...) in one directory, METRICS_DIR, and a scrape adds
them up. An RQ worker forks a work horse per job, so a file per job would pile up: a scrape
first folds the files of processes that have exited into one file per type (`compact`),
keeping every total. The directory is per host: process ids are what tell files apart.

Outcomes are counted where each engine records them (`outcome`); request latency by the hooks
`init_app` installs. What is read at scrape time (queue depth, campaign progress) is the
/metrics view's own collector (invites/ops/metrics.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from enum import Enum

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from invites.core.config import Settings, from_env

log = logging.getLogger(__name__)

#: Where prometheus-client's multiprocess mode writes; set from METRICS_DIR.
_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: A live process's own file. Gauges are not folded: none of ours is kept in files.
_PER_PROCESS = re.compile(r"^(counter|histogram|summary)_(\d+)\.db$")
#: What the files of exited processes are folded into (the name's first part is the type,
#: as the collector reads it; no pid, so it is never taken for a live process's file).
_EXITED = "{}_exited.db"

# Labelled metrics make their per-process values on first use, after `configure` chose the
# directory, so defining them here at import is safe in every process.
MESSAGES = Counter(
    "spotcam_messages",
    "Messages whose outcome was recorded, by kind of mail (campaign for campaign mail) and "
    "outcome (sent, failed, unknown, ...)",
    ["kind", "outcome"],
    registry=None,
)
REQUEST_SECONDS = Histogram(
    "spotcam_http_request_duration_seconds",
    "Time from a request's first hook to its response, by method, endpoint and status",
    ["method", "endpoint", "status"],
    registry=None,
)

_directory: str | None = None
_warned = False


def directory_for(settings: Settings, instance_path: str) -> str:
    """The metrics directory these settings name (METRICS_DIR, else `instance/metrics`)."""
    return settings.metrics_dir or os.path.join(instance_path, "metrics")


def directory_from_env() -> str:
    """The metrics directory, found without an app (gunicorn's master builds none)."""
    from invites.core.settings_file import instance_path

    return directory_for(from_env(), str(instance_path()))


def configure(directory: str) -> str:
    """Have this process's metrics write to `directory`; the first directory set wins."""
    global _directory
    if _directory is None:
        os.makedirs(directory, exist_ok=True)
        # prometheus-client reads the variable when a value first opens its file: in every
        # process, and again in a forked child (a gunicorn worker, an RQ work horse).
        os.environ[_DIR_ENV] = directory
        if not getattr(values.ValueClass, "_multiprocess", False):
            # It picks its value class when first imported, which may have been before this
            # process knew the directory. One class per process: each holds its open files.
            values.ValueClass = values.MultiProcessValue()
        _directory = directory
        # An RQ worker forks a work horse per job, and waits for it before the next: folding
        # before each fork leaves at most one exited horse's files, scraped or not.
        os.register_at_fork(before=_fold_before_fork)
    elif directory != _directory:
        log.warning("metrics go to %s in this process; not to %s", _directory, directory)
    return _directory


def current_directory() -> str:
    """This process's metrics directory (configured by `init_app`)."""
    if _directory is None:
        raise RuntimeError("metrics are not configured in this process")
    return _directory


def _safely(record: Callable[[], None]) -> None:
    # A full disk or a removed directory must never fail a send or a request: say it once.
    global _warned
    try:
        record()
    except OSError as exc:
        if not _warned:
            _warned = True
            log.warning("could not record a metric: %s", exc)


def outcome(kind: str, status: str | Enum) -> None:
    """Count one message's recorded outcome (`status` is the engine's own status value)."""
    label = str(status.value) if isinstance(status, Enum) else str(status)
    _safely(lambda: MESSAGES.labels(kind, label).inc())


def _started() -> None:
    # Kept if the hooks run again (a request retried after a dead database connection).
    g.setdefault("metrics_started", time.perf_counter())


def _finished(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        # The endpoint's name, never the path: paths carry tokens and user ids.
        labels = (request.method, request.endpoint or "none", str(response.status_code))
        elapsed = time.perf_counter() - started
        _safely(lambda: REQUEST_SECONDS.labels(*labels).observe(elapsed))
    return response


def init_app(app: Flask) -> None:
    """Choose the metrics directory and time every request."""
    configure(directory_for(app.config["SETTINGS"], app.instance_path))
    # First of the before-request hooks, so time spent in the others (the console's user
    # lookup, the API key check) is counted, and a hook that answers early still is.
    app.before_request_funcs.setdefault(None, []).insert(0, _started)
    app.after_request(_finished)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    # One scrape or fold at a time: a reader between a fold's write and its removal of the
    # folded files would count them twice.
    with open(os.path.join(path, "lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process under that id: leave its file alone
    return True


def _fold(path: str) -> int:
    """Fold exited processes' files into one per type, keeping every total; return how many."""
    exited: dict[str, list[str]] = defaultdict(list)
    pids: set[int] = set()
    for name in os.listdir(path):
        match = _PER_PROCESS.match(name)
        if match and not _alive(int(match.group(2))):
            exited[match.group(1)].append(os.path.join(path, name))
            pids.add(int(match.group(2)))
    for kind, files in exited.items():
        archive = os.path.join(path, _EXITED.format(kind))
        totals: dict[str, float] = defaultdict(float)
        for file in [archive, *files] if os.path.exists(archive) else files:
            for key, value, _timestamp, _position in MmapedDict.read_all_values_from_file(file):
                # Counters, histogram buckets and sums all add up across processes.
                totals[key] += value
        fresh = archive + ".new"  # not *.db: the collector never reads it half written
        with contextlib.suppress(FileNotFoundError):
            os.remove(fresh)
        out = MmapedDict(fresh)
        for key, value in totals.items():
            out.write_value(key, value, 0.0)
        out.close()
        os.replace(fresh, archive)
        for file in files:
            os.remove(file)
    for pid in pids:
        mark_process_dead(pid, path)
    return sum(len(files) for files in exited.values())


def _exited_files(path: str) -> bool:
    return any(
        (match := _PER_PROCESS.match(name)) and not _alive(int(match.group(2)))
        for name in os.listdir(path)
    )


def _fold_before_fork() -> None:
    try:
        path = current_directory()
        if _exited_files(path):  # most forks: nothing to fold, and no lock taken
            with _locked(path):
                _fold(path)
    except Exception:  # noqa: BLE001 - a fork must happen whatever the metrics files say
        log.warning("metrics files of exited processes not folded", exc_info=True)


def process_exited(pid: int, path: str | None = None) -> None:
    """Fold the files of a process that has exited (gunicorn's child_exit hook calls this)."""
    path = path or directory_from_env()
    if not os.path.isdir(path):
        return
    with _locked(path):
        _fold(path)


def exposition(path: str | None = None) -> bytes:
    """Every process's counters and histograms, added up, in Prometheus's text format."""
    path = path or current_directory()
    with _locked(path):
        # The totals read are the same before and after: only the files holding them change.
        _fold(path)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)
        return generate_latest(registry)
