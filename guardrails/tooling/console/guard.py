"""Who may talk to the console: a browser on this machine that holds the token.

The console binds 127.0.0.1, but any web page the user visits can make the browser
send requests there, and a DNS-rebinding page can even read the answers. So a
request must name 127.0.0.1 or localhost in its Host header (a rebinding page's
requests name its own domain), carry no cross-site Origin, and hold the random
token `guardrails ui` printed.

The API takes the token only as `Authorization: Bearer`, never from a cookie:
browsers send a site's cookies to every port of it, so a cookie of 127.0.0.1:8765
reaches any other server on 127.0.0.1 the user opens, whoever runs it. The printed
URL (`?token=`) is swapped for the page key (an HttpOnly, SameSite=Strict cookie that
opens the pages and static files, which hold nothing secret, and is no token) and
the token in the URL's fragment, which the page's script keeps in its origin's
localStorage, out of reach of other ports, and sends as the bearer.
"""

from __future__ import annotations

import hashlib
import hmac
import html
from urllib.parse import urlencode, urlsplit

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
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


def _same_origin(origin: str, host: str) -> bool:
    """`origin` is this console's page: loopback, and the host and port the browser
    connected to (another port of 127.0.0.1 is another program's page)."""
    try:
        netloc = urlsplit(origin).netloc
        return _hostname(netloc) in LOOPBACK_NAMES and netloc.lower() == host.lower()
    except ValueError:  # not a URL at all (`http://[::1`): refused like a foreign one
        return False


class Guard:
    """ASGI middleware: the Host, Origin and token checks, before any route runs."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()
        # what the cookie holds: derived from the token, and no way back to it
        self.page_key = hmac.new(self.token, b"console pages", hashlib.sha256).hexdigest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets here: closed, not let through unchecked
            await send({"type": "websocket.close", "code": 1008})
            return
        refusal = self._refusal(Request(scope))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, request: Request) -> Response | None:
        api = request.url.path.startswith("/api/")
        host = request.headers.get("host", "")
        if _hostname(host) not in LOOPBACK_NAMES:
            return _refuse(
                api, 403, "bad_host", "the console answers only to 127.0.0.1 or localhost"
            )
        origin = request.headers.get("origin")
        if origin is not None and not _same_origin(origin, host):
            return _refuse(api, 403, "bad_origin", f"requests from {origin} are refused")
        given, expected, in_query = self._given(request, api)
        if given is None:
            return _refuse(api, 401, "no_token", f"this console needs its token: {AGAIN}")
        if not hmac.compare_digest(given.encode(), expected):
            return _refuse(api, 403, "bad_token", f"wrong token: {AGAIN}")
        if in_query:
            return self._swap_for_cookie(request, given)
        return None

    def _given(self, request: Request, api: bool) -> tuple[str | None, bytes, bool]:
        """The credential the request carries, what it must equal, and whether it is
        the token in the query (a page load from the printed URL). The API takes the
        bearer token only; pages and static files take the page key's cookie too."""
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), self.token, False
        if api:
            return None, self.token, False
        query = request.query_params.get("token")
        if query is not None and request.method == "GET":
            return query, self.token, True
        return request.cookies.get(cookie_name(request.scope)), self.page_key.encode(), False

    def _swap_for_cookie(self, request: Request, token: str) -> Response:
        """Go on to the same page without the token in its query (out of the history
        and Referer headers): the page key set as the cookie, the token in the
        fragment for the page's script to keep.

        A page that refreshes to it, not a 303: this navigation may come from
        elsewhere (the file `guardrails ui` opens the browser on), and a redirect
        would stay part of it, so the browser would not send the new SameSite=Strict
        cookie; a refresh from this page is a navigation of the console's own."""
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        path = "/" + request.url.path.lstrip("/")  # never `//host`: another site
        target = html.escape(str(URL(path=path, query=urlencode(rest), fragment=f"token={token}")))
        page = (
            f'<!doctype html><meta http-equiv="refresh" content="0;url={target}">'
            f'<title>guardrails ui</title><p><a href="{target}">Open the console</a></p>'
        )
        headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
        response = HTMLResponse(page, headers=headers)
        response.set_cookie(
            cookie_name(request.scope), self.page_key, httponly=True, samesite="strict", path="/"
        )
        return response


def _refuse(api: bool, status: int, code: str, message: str) -> Response:
    if api:
        return error_response(status, code, message)
    return PlainTextResponse(f"guardrails ui: {message}\n", status_code=status)
