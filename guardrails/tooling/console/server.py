"""Serving the app: uvicorn on a socket bound here, so `--port 0` can print the port
the system chose before the first request arrives."""

from __future__ import annotations

import socket

import uvicorn

from .app import create_app
from .state import ConsoleState

HOST = "127.0.0.1"


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:`port` (0: a free one); OSError when taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def url(sock: socket.socket, token: str) -> str:
    return f"http://{HOST}:{sock.getsockname()[1]}/?token={token}"


def run(state: ConsoleState, sock: socket.socket) -> None:
    """Serve until interrupted (Ctrl-C)."""
    config = uvicorn.Config(create_app(state), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
