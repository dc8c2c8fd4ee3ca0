"""Who may talk to the console: a browser on this machine that holds the token.

The console binds 127.0.0.1, but any web page the user visits can make the browser
send requests there, and a DNS-rebinding page can even read the answers. So every
request must carry the random token `guardrails ui` printed (the first page load in
the query, which swaps it for an HttpOnly, SameSite=Strict cookie; scripts and
tools in the cookie or `Authorization: Bearer`), and must name 127.0.0.1 or localhost
in its Host header (a rebinding page's requests name its own domain). A cross-site
Origin on a request is refused too.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlencode, urlsplit

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .http import error_response

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost"})
AGAIN = "open the URL `guardrails ui` printed (it ends in ?token=...)"


def cookie_name(scope: Scope) -> str:
    """One cookie per port: cookies ignore ports, and two consoles may run at once."""
    server = scope.get("server") or ("", 0)
    return f"guardrails_console_{server[1]}"


def _hostname(value: str) -> str | None:
    try:
        return urlsplit(f"//{value}").hostname
    except ValueError:
        return None


class Guard:
    """ASGI middleware: the Host, Origin and token checks, before any route runs."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(Request(scope))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, request: Request) -> Response | None:
        api = request.url.path.startswith("/api/")
        if _hostname(request.headers.get("host", "")) not in LOOPBACK_NAMES:
            return _refuse(
                api, 403, "bad_host", "the console answers only to 127.0.0.1 or localhost"
            )
        origin = request.headers.get("origin")
        if origin is not None and _hostname(urlsplit(origin).netloc) not in LOOPBACK_NAMES:
            return _refuse(api, 403, "bad_origin", f"requests from {origin} are refused")
        given, in_query = self._given(request, api)
        if given is None:
            return _refuse(api, 401, "no_token", f"this console needs its token: {AGAIN}")
        if not hmac.compare_digest(given.encode(), self.token):
            return _refuse(api, 403, "bad_token", f"wrong token: {AGAIN}")
        if in_query:
            return self._swap_for_cookie(request, given)
        return None

    @staticmethod
    def _given(request: Request, api: bool) -> tuple[str | None, bool]:
        """The token the request carries, and whether it came in the query (a page
        load from the printed URL; API calls never take it there)."""
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), False
        cookie = request.cookies.get(cookie_name(request.scope))
        query = request.query_params.get("token")
        if query is not None and not api and request.method == "GET":
            return query, True
        return cookie, False

    @staticmethod
    def _swap_for_cookie(request: Request, token: str) -> Response:
        """Redirect to the same page without the token in its URL (out of the history
        and the address bar), the cookie set."""
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        target = URL(path=request.url.path, query=urlencode(rest))
        response = RedirectResponse(str(target), status_code=303)
        response.set_cookie(
            cookie_name(request.scope), token, httponly=True, samesite="strict", path="/"
        )
        return response


def _refuse(api: bool, status: int, code: str, message: str) -> Response:
    if api:
        return error_response(status, code, message)
    return PlainTextResponse(f"guardrails ui: {message}\n", status_code=status)
