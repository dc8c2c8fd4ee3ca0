"""`guardrails serve --workers N`: N server processes answering on one socket.

One process (the supervisor, what `guardrails serve` execs) binds the socket, TCP or
unix, and starts N workers that inherit it; each worker is the HTTP server of
serve.py (cpex's runtime behind the token), handing the inherited socket to uvicorn
instead of binding its own. The kernel gives each new connection to one worker.
Why a socket bound once rather than SO_REUSEPORT: no other process of the same user
can join the port, and the connections queued for a worker that dies stay in the
one queue for the others instead of being reset with it.

The supervisor imports no cpex (it starts in milliseconds) and does nothing but
watch: a worker that dies after it served is replaced; one that exits before it
served (it would fail the same way again) stops every worker and the supervisor
exits 1, so the port is never half-served silently. SIGTERM, SIGINT and SIGHUP stop
every worker (SIGKILL after `GRACE` seconds) and the supervisor exits 0. Each worker
holds the read end of a pipe only the supervisor can write: when the supervisor
dies, even by SIGKILL, the pipe closes and the worker shuts down.

Workers share nothing but the socket: an MCP session opened on one worker is
unknown to the others, so the workers serve MCP stateless (every request stands
alone: serve.py), and declared state must live in Redis (the command line refuses
`--state memory` for rules that remember).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

GRACE = 10.0  # seconds workers get to finish their requests when the server stops
BACKLOG = 2048  # uvicorn's default
_STOP = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _say(message: str) -> None:
    print(f"guardrails serve: {message}", file=sys.stderr, flush=True)


def listen(env: dict[str, str]) -> socket.socket:
    """The listening socket the server's environment names (as cpex's runtime reads it)."""
    uds = env.get("PLUGINS_SERVER_UDS")
    if uds:
        try:
            if stat.S_ISSOCK(os.lstat(uds).st_mode):
                os.unlink(uds)  # a stale socket, as uvicorn replaces it
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(uds)
        os.chmod(uds, 0o666)  # as uvicorn does: the directory decides who connects
    else:
        host = env.get("PLUGINS_SERVER_HOST", "127.0.0.1")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        port = int(env.get("PLUGINS_SERVER_PORT", "8000"))
        sock = socket.create_server((host, port), family=family)
    sock.listen(BACKLOG)
    return sock


@dataclass
class _Worker:
    number: int
    proc: subprocess.Popen[bytes]
    ready: bool = False
    started: float = field(default_factory=time.monotonic)


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class Supervisor:
    def __init__(self, workers: int, sock: socket.socket, argv: list[str], env: dict[str, str]):
        self.count = workers
        self.sock = sock
        self.argv = argv  # the worker's command, without its --worker argument
        self.env = env
        self.ready_r, self.ready_w = os.pipe()  # workers write "<pid>\n" once they serve
        self.life_r, self.life_w = os.pipe()  # closes when this process ends
        os.set_blocking(self.ready_r, False)
        self.workers: dict[int, _Worker] = {}
        self._lines = b""

    def start(self, number: int) -> None:
        fds = (self.sock.fileno(), self.ready_w, self.life_r)
        spec = ",".join(map(str, fds))
        proc = subprocess.Popen([*self.argv, "--worker", spec], pass_fds=fds, env=self.env)
        self.workers[proc.pid] = _Worker(number, proc)

    def run(self) -> int:
        """Start the workers and keep them serving until a stop signal (0) or a worker
        that cannot start (1)."""
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        old_wakeup = signal.set_wakeup_fd(wake_w)
        old = {sig: signal.signal(sig, _ignore) for sig in (*_STOP, signal.SIGCHLD)}
        try:
            for number in range(1, self.count + 1):
                self.start(number)
            while True:
                readable, _, _ = select.select([self.ready_r, wake_r], [], [])
                signals = _drain(wake_r) if wake_r in readable else b""
                if any(sig in signals for sig in _STOP):
                    return 0
                self._read_ready()
                code = self._reap()
                if code is not None:
                    return code
        finally:
            self.stop()
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in old.items():
                signal.signal(sig, handler)
            for fd in (wake_r, wake_w, self.ready_r, self.ready_w, self.life_r, self.life_w):
                os.close(fd)

    def _read_ready(self) -> None:
        self._lines += _drain(self.ready_r)
        *lines, self._lines = self._lines.split(b"\n")
        for line in lines:
            worker = self.workers.get(int(line or 0))
            if worker is not None and not worker.ready:
                worker.ready = True
                took = time.monotonic() - worker.started
                _say(f"worker {worker.number} (pid {worker.proc.pid}) serving ({took:.1f} s)")

    def _reap(self) -> int | None:
        for pid, worker in list(self.workers.items()):
            code = worker.proc.poll()
            if code is None:
                continue
            del self.workers[pid]
            if not worker.ready:
                _say(f"worker {worker.number} (pid {pid}) exited before serving ({_how(code)}); "
                     "stopping every worker")  # fmt: skip
                return 1
            _say(f"worker {worker.number} (pid {pid}) exited ({_how(code)}); starting another")
            self.start(worker.number)
        return None

    def stop(self) -> None:
        """SIGTERM every worker, SIGKILL those still running after GRACE seconds."""
        for worker in self.workers.values():
            if worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        for worker in self.workers.values():
            try:
                worker.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _say(f"worker {worker.number} (pid {worker.proc.pid}) did not stop; killing it")
                worker.proc.kill()
                worker.proc.wait()
        self.workers.clear()


def _ignore(signum: int, frame: Any) -> None:
    """A handler, so that the signal reaches the wakeup fd instead of its default action."""


def _drain(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


def supervise(workers: int, worker_argv: list[str], env: dict[str, str]) -> int:
    """Serve with `workers` processes of `worker_argv` on the socket `env` names; the exit code."""
    try:
        sock = listen(env)
    except OSError as err:
        where = env.get("PLUGINS_SERVER_UDS") or (
            f"{env.get('PLUGINS_SERVER_HOST')}:{env.get('PLUGINS_SERVER_PORT')}"
        )
        _say(f"cannot listen on {where}: {err.strerror or err}")
        return 1
    name = sock.getsockname()
    _say(f"{workers} workers on {name if isinstance(name, str) else f'{name[0]}:{name[1]}'}")
    try:
        return Supervisor(workers, sock, worker_argv, env).run()
    finally:
        sock.close()
        uds = env.get("PLUGINS_SERVER_UDS")
        if uds:
            with contextlib.suppress(OSError):
                os.unlink(uds)


# ---- in a worker ----


def worker_fds(spec: str) -> tuple[int, int, int]:
    """The (listening socket, ready pipe, lifeline) fds a worker was given."""
    listen_fd, ready_fd, life_fd = (int(part) for part in spec.split(","))
    for fd in (listen_fd, ready_fd, life_fd):
        os.set_inheritable(fd, False)  # nothing the rules start may hold them
    return listen_fd, ready_fd, life_fd


def follow_supervisor(life_fd: int) -> None:
    """Shut this worker down (as SIGTERM does) when the supervisor's pipe closes."""

    def wait() -> None:
        while os.read(life_fd, 1):
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait, name="guardrails-serve-lifeline", daemon=True).start()


def serve_on_inherited_socket(runtime: Any, listen_fd: int, ready_fd: int) -> None:
    """Make cpex's runtime serve on the supervisor's socket, and say so once it does.

    The runtime builds a `uvicorn.Config` and `uvicorn.Server` itself and binds the
    configured address; here the module it calls them through is a namespace whose
    Server serves the inherited socket (as uvicorn's own workers do) and writes this
    process's pid to the ready pipe once it has started. Nothing in uvicorn changes.
    """
    import types

    import uvicorn

    if getattr(runtime, "uvicorn", None) is not uvicorn:
        raise ImportError(
            f"{runtime.__name__} does not start uvicorn through `uvicorn.Server`: a cpex "
            "version `guardrails serve --workers` does not support"
        )
    listener = socket.socket(fileno=listen_fd)

    class SharedSocketServer(uvicorn.Server):
        async def serve(self, sockets: list[socket.socket] | None = None) -> None:
            await super().serve(sockets=[listener])

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                os.write(ready_fd, f"{os.getpid()}\n".encode())

    runtime.uvicorn = types.SimpleNamespace(Config=uvicorn.Config, Server=SharedSocketServer)
