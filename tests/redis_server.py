"""A real Redis server for tests: Debian's `redis-server`, on a free loopback port, in a
temporary directory, with nothing saved to disk.

Without `redis-server` the tests that need it fail (never skip), so CI cannot pass
without exercising Redis; scripts/test.sh installs it on a fresh Debian machine.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

INSTALL = "apt-get install -y redis-server (scripts/test.sh does it when it is missing)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """`redis-server` as a child process; `stop()` and `start()` again keep the port,
    so clients holding the URL see the same server come back (empty: nothing is saved)."""

    def __init__(self, port: int | None = None, *options: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(f"redis-server is not installed; install it: {INSTALL}", pytrace=False)
        self.binary = binary
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="guardrails-redis-"))
        self.options = options  # more redis-server options, e.g. ("--requirepass", "x")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        argv = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.dir), "--logfile", "redis.log",
            *self.options,
        ]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not self._answers():
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                log = self.dir / "redis.log"
                err += log.read_text() if log.exists() else ""
                raise RuntimeError(f"redis-server exited: {err}")
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start within 10 s")
            time.sleep(0.02)
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # like a crash: nothing flushed, connections cut
            self.proc.wait(timeout=10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
