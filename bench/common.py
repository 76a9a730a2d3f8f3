"""What the benchmark scripts share: a scratch database, a flushed Redis, services, the machine."""

from __future__ import annotations

import math
import os
import platform
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import redis
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / ".venv" / "bin"


class BenchError(RuntimeError):
    """The benchmark could not be set up or run (not a missed target)."""


def group_cpu(pgid: int) -> float:
    """Return the CPU seconds used so far by the live processes of one process group."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def url_with_db(url: str, dbname: str, scheme: str) -> str:
    parts = urlsplit(url)
    return parts._replace(scheme=scheme, path="/" + dbname).geturl()


@contextmanager
def scratch_database(admin_url: str) -> Iterator[tuple[str, str]]:
    """Create a fresh database, yield (its libpq URL, server version), and always drop it."""
    name = f"spotcam_bench_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        assert row is not None  # SHOW answers one row
        version = str(row[0])
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url_with_db(admin_url, name, "postgresql"), version
    finally:
        # FORCE (PostgreSQL 13+) ends the app's pooled connections should gunicorn linger.
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def flushed_redis(url: str) -> Iterator[redis.Redis]:
    """Flush the one Redis database named in the URL before and after the run."""
    if not urlsplit(url).path.strip("/") and "db=" not in url:
        raise BenchError(f"{url} names no database number; give one (e.g. /15) to be flushed")
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    client.flushdb()
    try:
        yield client
    finally:
        with suppress(redis.RedisError):
            client.flushdb()


def run(cmd: list[str], env: dict[str, str], timeout: float) -> str:
    try:
        done = subprocess.run(
            cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{' '.join(cmd[1:])} took over {timeout:.0f} s") from exc
    if done.returncode:
        raise BenchError(f"{' '.join(cmd[1:])} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def service(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run a command in its own process group (id = its pid), output to log; always stop it."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
        if proc.poll() is not None:
            name = Path(cmd[0]).name
            raise BenchError(f"{name} exited with {proc.returncode} during the run; see {log}")
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def gunicorn(
    workers: int, port: int, env: dict[str, str], log: Path
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """Run gunicorn wsgi:app with this many sync workers."""
    cmd = [str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", "wsgi:app"]
    return service(cmd, env, log)


def wait_healthy(proc: subprocess.Popen[bytes], port: int, log: Path, seconds: float) -> None:
    """Poll /healthz until it answers 200, gunicorn exits, or time runs out."""
    deadline = time.monotonic() + seconds
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(request)
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-4000:]
    raise BenchError(f"/healthz did not answer within {seconds:.0f} s; gunicorn log:\n{tail}")


def wait_idle(pgid: int, seconds: float) -> None:
    """Wait until gunicorn's processes stop using CPU, or time runs out."""
    # The first worker answers /healthz while the others are still importing the app; that
    # start-up work would otherwise be billed to the first baseline.
    deadline = time.monotonic() + seconds
    used = group_cpu(pgid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        used, before = group_cpu(pgid), used
        if used - before < 0.02:
            return


def machine() -> dict[str, Any]:
    """Describe the machine the numbers come from."""
    model = platform.processor()
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "cpu": model or "unknown",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "python_loop_ms": python_loop_ms(),
    }


def python_loop_ms() -> float:
    """Milliseconds one core takes for a fixed pure-Python loop, best of fifteen.

    Hosts of one machine kind differ: the latencies here are absolute, so this number says
    whether two runs' hosts are comparable before their p99s are compared.
    """
    best = math.inf
    for _ in range(15):
        start = time.perf_counter()
        total = 0
        for i in range(100_000):
            total += i * i % 7
        best = min(best, time.perf_counter() - start)
    return round(best * 1000, 1)


def proc_cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process and its reaped children (a forking worker's
    work-horses)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    tick = os.sysconf("SC_CLK_TCK")
    return (utime + cutime) / tick, (stime + cstime) / tick


def peak_rss_mb(pgid: int) -> float:
    """The largest peak RSS (VmHWM) among a process group's live processes, in MB."""
    peak = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            continue
    return peak / 1024
