"""Completion, hover and navigation: registered on the server by `register`.

A placeholder until those features land; the server calls `register` once at start.
"""

from __future__ import annotations

from typing import Any


def register(server: Any, workspace: Any) -> None:
    """Add the language features' handlers to `server`, reading `workspace`."""
