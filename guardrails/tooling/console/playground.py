"""The playground's API: the rules files, live diagnostics for an edit, the hook
list, Evaluate (verdict, per-rule results, the explain trace), payloads from recorded
calls, and saving (with --write) a rules file or a corpus case.

Endpoints read the request here and hand plain values to workbench/saving/recorded,
run on a worker thread: checking and compiling are CPU work that must not stall the
server's event loop.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .http import field_of, read_object
from .recorded import recorded_call, recorded_calls
from .saving import save_case, save_rules
from .state import ConsoleState
from .workbench import diagnostic_json, diagnostics, evaluate_payload, file_names, hooks


def routes(state: ConsoleState) -> list[BaseRoute]:
    async def rules(_request: Request) -> Response:
        def read() -> dict[str, Any]:
            files = [
                {"name": name, "text": path.read_text(encoding="utf-8")}
                for name, path in file_names(state).items()
            ]
            return {"files": files, "write": state.write, "root": str(state.rules_root)}

        return JSONResponse(await run_in_threadpool(read))

    async def check(request: Request) -> Response:
        body = await read_object(request)
        edits = _edit(body)
        found = await run_in_threadpool(diagnostics, state, edits)
        errors = sum(d.severity.value == "error" for d in found)
        return JSONResponse(
            {
                "diagnostics": [diagnostic_json(d) for d in found],
                "errors": errors,
                "warnings": len(found) - errors,
            }
        )

    async def hook_list(_request: Request) -> Response:
        return JSONResponse({"hooks": hooks()})

    async def evaluate(request: Request) -> Response:
        body = await read_object(request)
        edits = _edit(body) if "file" in body else {}
        hook = field_of(body, "hook", str, required=False)
        payload = field_of(body, "payload", str)
        result = await run_in_threadpool(evaluate_payload, state, edits, hook, payload)
        return JSONResponse(result.to_dict())

    async def calls(_request: Request) -> Response:
        listed = await run_in_threadpool(recorded_calls, state)
        return JSONResponse({"calls": listed, "logs": [str(p) for p in state.decisions]})

    async def call(request: Request) -> Response:
        found = await run_in_threadpool(recorded_call, state, request.path_params["call_id"])
        return JSONResponse(found)

    async def save_rules_file(request: Request) -> Response:
        body = await read_object(request)
        name, text = field_of(body, "file", str), field_of(body, "text", str)
        return JSONResponse(await run_in_threadpool(save_rules, state, name, text))

    async def save_corpus_case(request: Request) -> Response:
        body = await read_object(request)
        expect = field_of(body, "expect", list, required=False)
        if expect is not None and not all(isinstance(e, str) for e in expect):
            expect = [str(e) for e in expect]
        saved = await run_in_threadpool(
            save_case,
            state,
            field_of(body, "hook", str),
            field_of(body, "name", str),
            field_of(body, "payload", str),
            field_of(body, "description", str, required=False),
            expect,
            bool(field_of(body, "overwrite", bool, required=False)),
        )
        return JSONResponse(saved, status_code=201)

    return [
        Route("/api/rules", rules),
        Route("/api/check", check, methods=["POST"]),
        Route("/api/hooks", hook_list),
        Route("/api/evaluate", evaluate, methods=["POST"]),
        Route("/api/calls", calls),
        Route("/api/calls/{call_id:path}", call),  # an id may hold a `/`
        Route("/api/rules/save", save_rules_file, methods=["POST"]),
        Route("/api/corpus/save", save_corpus_case, methods=["POST"]),
    ]


def _edit(body: dict[str, Any]) -> dict[str, str]:
    """The request's edit: `file` (a name of the ruleset, or a new one) and its `text`."""
    return {field_of(body, "file", str): field_of(body, "text", str)}
