"""The server behind `guardrails serve --transport http`: cpex's MCP runtime, behind a token.

cpex's runtime (`cpex.framework.external.mcp.server.runtime`) answers anyone who can
reach its socket: read the plugin configs, ask for decisions with any `GlobalContext`
(`user.role == "admin"` included), write decision records under any request id, read
the metrics. `guardrails serve` execs this module instead. It imports that runtime,
swaps in a subclass of its server class whose Starlette app is wrapped in
`BearerToken`, and runs it; nothing in cpex is patched on disk, and everything the
runtime does stays cpex's.

Our client, `guardrails.adapters.remote.RemoteRules`, sends `Authorization: Bearer`.
cpex 0.1.4's own MCP client (`kind: external`) sends no headers (`MCPClientConfig` has
no field for them and rejects credentials in the URL), so the token is also accepted
as an `access_token` query parameter (RFC 6750 section 2.3), which it can put in its
`url:`. The parameter is removed from the request before
anything else sees it, so uvicorn's access log does not print it.

The token helpers are standard library only: `guardrails.tooling.cli` uses them to validate
options before the server (and cpex's two-second import) starts.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import stat
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

TOKEN_ENV = "GUARDRAILS_SERVE_TOKEN"
QUERY_PARAM = "access_token"
MIN_TOKEN_CHARS = 16
# RFC 3986 unreserved characters: valid in a header and in a URL without escaping
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~-]+")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TokenError(ValueError):
    """A token, token file or socket directory that must not be used; the message says why."""


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses; any other name may resolve anywhere."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token(token: str, origin: str) -> str:
    """`token` if it is long enough and safe in a header and a URL, else TokenError."""
    if not token:
        raise TokenError(f"{origin}: no token")
    if len(token) < MIN_TOKEN_CHARS:
        raise TokenError(f"{origin}: the token is shorter than {MIN_TOKEN_CHARS} characters")
    if not _TOKEN_CHARS.fullmatch(token):
        raise TokenError(
            f"{origin}: the token may contain only letters, digits and . _ ~ - "
            "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return token


def _own(st: os.stat_result) -> bool:
    return st.st_uid in (os.geteuid(), 0)


def read_token_file(path: Path) -> str:
    """The token in `path`, which must be a regular file only its owner can read or write.

    Like ssh with its keys: a token others can read is not a secret, and one others can
    write lets them pick it. The owner must be you or root.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as err:
        raise TokenError(f"{path}: {err.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise TokenError(f"{path}: not a regular file")
        if not _own(st):
            raise TokenError(f"{path}: owned by uid {st.st_uid}, not by you or root")
        if st.st_mode & 0o077:
            raise TokenError(
                f"{path}: mode {stat.S_IMODE(st.st_mode):04o} lets other users read or write "
                f"the token; run: chmod 600 {path}"
            )
        data = f.read(4097)
    if len(data) > 4096:
        raise TokenError(f"{path}: longer than 4096 bytes; a token file holds one token")
    return check_token(data.decode("utf-8", "replace").strip(), str(path))


def write_token_file(path: Path, token: str) -> None:
    """Write `token` to `path` with mode 0600, replacing a file of yours, never via a symlink."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as err:
        raise TokenError(f"{path}: {err.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            raise TokenError(f"{path}: not a regular file of yours")
        os.fchmod(f.fileno(), 0o600)
        f.truncate(0)
        f.write(token + "\n")


def check_private_dir(socket_path: Path) -> None:
    """TokenError unless the socket's directory is yours and closed to everyone else.

    Connecting to a unix socket needs search permission on its directory, so a
    directory with mode 0700 is a kernel-enforced access list of one user, whatever
    mode the HTTP server gives the socket (uvicorn makes it 0666).
    """
    parent = socket_path.resolve().parent
    try:
        st = os.stat(parent)
    except OSError as err:
        raise TokenError(f"{parent}: {err.strerror}") from None
    if st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise TokenError(
            f"{parent}: other users can enter this directory (mode "
            f"{stat.S_IMODE(st.st_mode):04o}, owner uid {st.st_uid}), so they could connect "
            "to the socket; use a directory of yours with mode 0700 (mkdir -m 700 DIR)"
        )


def choose_token(
    host: str,
    uds: Path | None,
    token_file: Path | None,
    env_token: str | None,
    no_auth: bool,
    token_out: Path | None,
) -> tuple[str | None, bool]:
    """(token, generated) for an HTTP server; (None, False) for no token at all.

    `--token-file` wins over $GUARDRAILS_SERVE_TOKEN; with neither, a token is
    generated, for loopback and unix sockets only: a server others can reach over the
    network must use a token its operator chose and gave the clients beforehand. No
    token at all is for a unix socket in a private directory, where the kernel checks
    who connects.
    """
    given = "--token-file" if token_file else f"${TOKEN_ENV}" if env_token is not None else ""
    if given and (no_auth or token_out):
        flag = "--no-auth" if no_auth else "--token-out"
        raise TokenError(f"{flag} and {given} contradict each other; use one")
    if no_auth:
        if uds is None:
            raise TokenError(
                f"--no-auth on {host}: any local user could connect; only a unix socket in "
                "a private directory (--uds) can go without a token"
            )
        check_private_dir(uds)
        return None, False
    if token_file is not None:
        return read_token_file(token_file), False
    if env_token is not None:
        return check_token(env_token.strip(), f"${TOKEN_ENV}"), False
    if uds is None and not is_loopback(host):
        raise TokenError(
            f"{host} is not a loopback address: serving it needs a token you chose "
            f"(--token-file or ${TOKEN_ENV}), given to the clients beforehand"
        )
    return secrets.token_urlsafe(32), True


def _digest(token: str) -> bytes:
    # comparing fixed-length digests keeps even the token's length out of the timing
    return hashlib.sha256(token.encode()).digest()


class BearerToken:
    """ASGI middleware: 401 for any HTTP request that does not carry the token.

    The token comes from `Authorization: Bearer <token>` or the `access_token` query
    parameter, exactly one of them (RFC 6750 forbids sending both). Only `GET
    /health` is open, for liveness probes: it answers `{"status": "healthy"}` and
    nothing else. The 401 body is a JSON-RPC error, which MCP clients show as the
    reason their connection failed.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._digest = _digest(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        presented = self._presented(scope)
        if (presented is not None and hmac.compare_digest(_digest(presented), self._digest)) or (
            scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == "/health"
        ):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await _unauthorized(send)

    @staticmethod
    def _presented(scope: Scope) -> str | None:
        """The one token the request carries, or None (none, or more than one).

        The query parameter is removed from the scope in place: uvicorn writes its
        access log line from this same dict.
        """
        found: list[str] = []
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, credentials = value.decode("latin-1").partition(" ")
                found.append(credentials.strip() if scheme.lower() == "bearer" else "")
        query = scope.get("query_string", b"")
        if query:
            kept = []
            for part in query.split(b"&"):
                name, _, value = part.partition(b"=")
                if unquote(name.decode("latin-1")) == QUERY_PARAM:
                    found.append(unquote(value.decode("latin-1")))
                elif part:
                    kept.append(part)
            scope["query_string"] = b"&".join(kept)
        return found[0] if len(found) == 1 else None


async def _unauthorized(send: Send) -> None:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32001, "message": "guardrails serve: missing or wrong token"},
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="guardrails serve"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str]) -> None:
    """Run cpex's MCP runtime; with a token from $GUARDRAILS_SERVE_TOKEN unless `--no-auth`.

    The token is taken out of the environment first, so the rules plugins and any
    process they start never see it. With `--workers N` (N > 1) this process is the
    supervisor of N such servers on one socket (serve_workers.py), each given the
    token and started with `--worker FDS`.
    """
    import argparse
    import asyncio

    parser = argparse.ArgumentParser(prog="guardrails.adapters.cpex.serve")
    parser.add_argument("--no-auth", action="store_true")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # the supervisor's fds
    args = parser.parse_args(argv)
    token = os.environ.pop(TOKEN_ENV, "")
    no_auth = args.no_auth
    if no_auth and not os.environ.get("PLUGINS_SERVER_UDS"):
        sys.exit("guardrails serve: --no-auth is only for a unix socket (PLUGINS_SERVER_UDS)")
    if not no_auth:
        try:
            check_token(token, f"${TOKEN_ENV}")
        except TokenError as err:
            sys.exit(f"guardrails serve: refusing to serve HTTP without a good token: {err}")
    if args.workers > 1:
        from .serve_workers import supervise

        worker = [sys.executable, "-m", __spec__.name if __spec__ else __name__]
        env = dict(os.environ, **({} if no_auth else {TOKEN_ENV: token}))
        sys.exit(supervise(args.workers, [*worker, *(["--no-auth"] if no_auth else [])], env))

    from cpex.framework.external.mcp.server import runtime

    from .compat import http_options, server_class_name

    name = server_class_name(runtime)
    stateless = args.worker is not None
    if args.worker is not None:
        from .serve_workers import follow_supervisor, serve_on_inherited_socket, worker_fds

        listen_fd, ready_fd, life_fd = worker_fds(args.worker)
        follow_supervisor(life_fd)
        serve_on_inherited_socket(runtime, listen_fd, ready_fd)

    class GuardedServer(getattr(runtime, name)):  # type: ignore[misc]
        def streamable_http_app(self, *args: Any, **kwargs: Any) -> Any:
            # a reply as one JSON body (no SSE stream: our tools send nothing before
            # their result), and with workers no session: the next request may reach
            # another worker
            http_options(self, kwargs, stateless)
            app = super().streamable_http_app(*args, **kwargs)
            if not no_auth:
                # outermost, so the /health and /metrics routes cpex adds later are behind it
                app.add_middleware(BearerToken, token=token)
            return app

        async def _start_health_check_server(self, health_port: int) -> None:
            """cpex runs this plain-HTTP side server (health and metrics, no token) when
            TLS is on; the main server answers /health without a token already."""

    setattr(runtime, name, GuardedServer)
    asyncio.run(runtime.run())


if __name__ == "__main__":
    main(sys.argv[1:])
