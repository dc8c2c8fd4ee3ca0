"""stub"""

from __future__ import annotations

from starlette.routing import BaseRoute

from .state import ConsoleState


def routes(state: ConsoleState) -> list[BaseRoute]:
    return []
