"""The console as one Starlette app: the guard, the pages, static files, and the
sections' API routes.

Pages are one shared layout (static/layout.html: the nav, the stylesheet) around a
section's own fragment and script (static/<page>.html, static/<page>.js); plain
HTML and JS of ours, no build step, nothing from a CDN. Plotly's bundle comes from
the installed plotly package, never a copy in this repository.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from . import corpus_view, dashboard, playground
from .guard import Guard
from .http import ApiError, api_error, error_response, workbench_error
from .state import ConsoleState
from .workbench import WorkbenchError

STATIC = resources.files(__package__) / "static"
# every section: its module's routes(state) -> API routes
SECTIONS = (playground, corpus_view, dashboard)


@dataclass(frozen=True)
class Page:
    path: str
    name: str  # static/<name>.html and static/<name>.js
    title: str
    scripts: tuple[str, ...] = ()  # more scripts, loaded before the page's own


PAGES = (
    Page("/", "playground", "Playground"),
    Page("/corpus", "corpus", "Corpus"),
    Page("/dashboard", "dashboard", "Rollout", ("/static/plotly.min.js",)),
)


def create_app(state: ConsoleState) -> Starlette:
    routes: list[BaseRoute] = [Route(p.path, _page_endpoint(p, state)) for p in PAGES]
    routes.append(Route("/static/plotly.min.js", _plotly))
    for section in SECTIONS:
        routes.extend(section.routes(state))
    routes.append(Route("/api/{rest:path}", _no_endpoint, methods=["GET", "POST", "PUT"]))
    routes.append(Mount("/static", StaticFiles(directory=str(STATIC)), name="static"))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, token=state.token)],
        exception_handlers={ApiError: api_error, WorkbenchError: workbench_error},
    )
    app.state.console = state
    return app


def render_page(page: Page, state: ConsoleState) -> str:
    layout = (STATIC / "layout.html").read_text(encoding="utf-8")
    here = ' class="here" aria-current="page"'
    nav = "".join(f'<a href="{p.path}"{here if p is page else ""}>{p.title}</a>' for p in PAGES)
    scripts = "".join(
        f'<script src="{src}"></script>' for src in (*page.scripts, "/static/console.js")
    )
    mode = "read-write" if state.write else "read-only"
    fills = {
        "title": html.escape(page.title),
        "nav": nav,
        "rules": html.escape(state.shown),
        "mode": mode,
        "body": (STATIC / f"{page.name}.html").read_text(encoding="utf-8"),
        "scripts": f'{scripts}<script src="/static/{page.name}.js"></script>',
    }
    for key, value in fills.items():
        layout = layout.replace("{{" + key + "}}", value)
    return layout


def _page_endpoint(page: Page, state: ConsoleState) -> Any:
    async def endpoint(_request: Request) -> Response:
        headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-store"}
        return HTMLResponse(render_page(page, state), headers=headers)

    return endpoint


# our pages run only our own scripts and talk only to this server
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


async def _plotly(_request: Request) -> Response:
    try:
        bundle = resources.files("plotly") / "package_data" / "plotly.min.js"
    except ModuleNotFoundError:
        bundle = None
    if bundle is None or not bundle.is_file():
        return error_response(
            404,
            "no_plotly",
            "the dashboard's plots need plotly: pip install 'guardrails-rules[ui]'",
        )
    return FileResponse(str(bundle), media_type="text/javascript")


async def _no_endpoint(request: Request) -> Response:
    return error_response(404, "not_found", f"no API endpoint {request.url.path}")
