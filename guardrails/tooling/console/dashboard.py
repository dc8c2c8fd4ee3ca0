"""The rollout dashboard's API: `guardrails report`, `promote`'s gate and `replay` on
the console's decision logs, as JSON for static/dashboard.js.

The numbers come from rollout_data.py (no web framework there); this module parses
query strings, runs the work off the event loop (a large log takes seconds, and the
other pages must stay live meanwhile) and turns a `DashboardError` into the API's
error shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ...diagnostics import RulesError
from .http import ApiError, field_of, read_object
from .rollout_data import EXAMPLES, DashboardError, RolloutData, Thresholds
from .state import ConsoleState
from .workbench import WorkbenchError, diagnostic_json
from .workbench import policy as edited_policy

MAX_EXAMPLES = 20


async def _answer(work: Callable[[], dict[str, Any]]) -> Response:
    try:
        return JSONResponse(await run_in_threadpool(work))
    except DashboardError as err:
        raise ApiError(err.status, err.code, err.message) from None


def _thresholds(request: Request) -> Thresholds:
    query = request.query_params
    try:
        return Thresholds.parse(query.get("max_rate"), query.get("min_samples"))
    except DashboardError as err:
        raise ApiError(err.status, err.code, err.message) from None


def _examples(value: Any) -> int:
    if value is None or value == "":
        return EXAMPLES
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if not 0 <= number <= MAX_EXAMPLES:
        raise ApiError(400, "bad_examples", f"examples is a whole number from 0 to {MAX_EXAMPLES}")
    return number


def routes(state: ConsoleState) -> list[BaseRoute]:
    data = RolloutData(state.rules, state.decisions, state.options, state.rules_files, state.shown)

    async def summary(request: Request) -> Response:
        thresholds = _thresholds(request)
        return await _answer(lambda: data.summary(thresholds))

    async def timeline(request: Request) -> Response:
        rule = request.query_params.get("rule") or None
        return await _answer(lambda: data.timeline(rule))

    async def gates(request: Request) -> Response:
        thresholds = _thresholds(request)
        return await _answer(lambda: data.gates(thresholds))

    async def replay(request: Request) -> Response:
        if request.method == "GET":
            examples = _examples(request.query_params.get("examples"))
            return await _answer(lambda: data.replay(None, examples))
        # the playground's edit, as its endpoints take it: one file and its text
        body = await read_object(request)
        edits = {field_of(body, "file", str): field_of(body, "text", str)}
        examples = _examples(body.get("examples"))
        against = field_of(body, "against", str, required=False) or "recorded"

        def work() -> dict[str, Any]:
            try:
                candidate = edited_policy(state, edits)
            except RulesError as err:
                raise WorkbenchError(
                    "rules_have_errors",
                    "the edited rules have errors; fix them to replay",
                    422,
                    diagnostics=[diagnostic_json(d) for d in err.diagnostics],
                ) from None
            return data.replay(candidate, examples, against)

        return await _answer(work)

    return [
        Route("/api/dashboard/summary", summary),
        Route("/api/dashboard/timeline", timeline),
        Route("/api/dashboard/gates", gates),
        Route("/api/dashboard/replay", replay, methods=["GET", "POST"]),
    ]
