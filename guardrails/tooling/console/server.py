"""Serving the app: uvicorn on a socket bound here, so `--port 0` can print the port
the system chose before the first request arrives."""

from __future__ import annotations

import html
import os
import socket
import tempfile
from pathlib import Path

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


def opener(address: str) -> Path:
    """A page that leads to `address`, readable by this user only, to open the browser
    on: a browser's command line is readable by every local user (ps), and a browser
    started for a URL keeps it there while it runs. The caller removes its folder."""
    folder = Path(tempfile.mkdtemp(prefix="guardrails-ui-"))  # mode 0700
    page = folder / "open.html"
    target = html.escape(address)
    fd = os.open(page, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(
            f'<!doctype html><meta http-equiv="refresh" content="0;url={target}">'
            f'<title>guardrails ui</title><p><a href="{target}">Open the console</a></p>\n'
        )
    return page
