"""The rollout dashboard's API (helper D's section): a stub until it lands, so the
app's section registry and the page's nav are in place."""

from __future__ import annotations

from starlette.routing import BaseRoute

from .state import ConsoleState


def routes(state: ConsoleState) -> list[BaseRoute]:
    return []
