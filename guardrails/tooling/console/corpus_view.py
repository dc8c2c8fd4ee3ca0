"""The corpus view's API: every case judged as `guardrails test` judges it (with the
rules on disk, or with the playground's edit), and a case's file for the playground."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .cases import case_text, list_cases, run_corpus
from .http import field_of, read_object
from .state import ConsoleState


def routes(state: ConsoleState) -> list[BaseRoute]:
    async def corpus(_request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(run_corpus, state))

    async def corpus_with_edit(request: Request) -> Response:
        body = await read_object(request)
        edits = {field_of(body, "file", str): field_of(body, "text", str)}
        return JSONResponse(await run_in_threadpool(run_corpus, state, edits))

    async def cases(_request: Request) -> Response:
        listed = await run_in_threadpool(list_cases, state)
        return JSONResponse(
            {"corpus": str(state.corpus) if state.corpus else None, "cases": listed}
        )

    async def case(request: Request) -> Response:
        hook, name = request.path_params["hook"], request.path_params["name"]
        return JSONResponse(await run_in_threadpool(case_text, state, hook, name))

    return [
        Route("/api/corpus", corpus),
        Route("/api/corpus/run", corpus_with_edit, methods=["POST"]),
        Route("/api/corpus/cases", cases),
        Route("/api/corpus/cases/{hook}/{name}", case),
    ]
