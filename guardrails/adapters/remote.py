"""Rules served over HTTP, for a cpex host: `kind: guardrails.adapters.remote.RemoteRules`.

    plugins:
      - name: guardrails-sequential
        kind: guardrails.adapters.remote.RemoteRules
        hooks: [tool_pre_invoke]
        mode: sequential
        priority: 10
        config:
          url: http://localhost:8000/mcp     # `guardrails serve --transport http`
          token_file: /etc/guardrails/token  # mode 0600; sent as Authorization: Bearer
          uds: /run/guardrails/mcp.sock      # optional: connect through this unix socket
          plugin: guardrails-sequential      # the server's plugin (default guardrails-<mode>)
          timeout: 10                        # seconds for one call or one connection attempt

Why not cpex's `kind: external`: cpex 0.1.4's MCP client enters the HTTP transport's
anyio task group in the task that called `initialize()`. When the server goes away,
that group cancels its host task, so every later call raises `asyncio.CancelledError`
(which hosts catching `Exception` do not see, and which cancels the caller's task),
and the client never reconnects. At start-up, a server that is down fails
`initialize()` the same way, and a refused token makes cpex skip the entry and let
every call through. Here the MCP session lives in a task of its own (`_Session`), so
a broken connection ends that task only, and calls see an error they can handle.

Fail closed without a server: a call that gets no decision (server down, refused
token, no answer within `timeout`) blocks with code GUARDRAIL_UNAVAILABLE in a
sequential or concurrent entry, raises `RemoteUnavailable` in a transform entry (so
cpex's `on_error: fail` aborts the call), and is noted in the metadata of an audit or
fire-and-forget entry. An entry with `on_error: ignore` or `disable` gets the
exception instead of the block and cpex lets the call go on: the host's explicit
choice. A misconfigured entry (no `url`, unknown key) blocks the same way with code
GUARDRAIL_CONFIG. Loading never fails, so cpex never skips the entry.

Recovery: the next call after a failure opens a new session (after a server restart
the first call does so at once and is retried on it). While connecting fails, calls
fail at once and a new attempt is made by the first call after a backoff (0.25 s,
doubling up to 5 s), so a server that is down costs the host no waiting and comes
back within the backoff; one that accepts connections but does not answer costs the
call that tries `timeout` seconds. The token file is read at each connection, so a
new token (with a restarted server) is picked up without restarting the host.

Errors the server reports (an unknown plugin name, a transform rule that failed)
are raised as cpex `PluginError`, as cpex's own client does; `on_error` decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cpex.framework import Plugin, PluginContext, PluginResult, PluginViolation
from cpex.framework.constants import (
    CONTEXT,
    ERROR,
    HOOK_TYPE,
    INVOKE_HOOK,
    PAYLOAD,
    PLUGIN_NAME,
    RESULT,
)
from cpex.framework.errors import PluginError
from cpex.framework.hooks.registry import get_hook_registry
from cpex.framework.models import PluginErrorModel
from mcp import ClientSession

from ..diagnostics import GuardrailsError
from ..runtime.modes import MODES
from .cpex.compat import CallToolResult, TextContent, httpx, streams
from .cpex.plugin import METADATA_PREFIX, http_status
from .cpex.serve import QUERY_PARAM, TokenError, read_token_file

UNAVAILABLE_CODE = "GUARDRAIL_UNAVAILABLE"
CONFIG_CODE = "GUARDRAIL_CONFIG"  # the code of a misconfigured `guardrails.cpex` entry
_KEYS = frozenset({"url", "uds", "token_file", "plugin", "timeout"})
_FIRST_BACKOFF = 0.25
_MAX_BACKOFF = 5.0
_SSE_READ_TIMEOUT = 300.0  # the MCP SDK's default: the server may hold a stream open
_log = logging.getLogger("guardrails.remote")


class RemoteUnavailable(GuardrailsError):
    """No decision from the server; raised where cpex cannot take a block (transform)."""


class _NoAnswer(Exception):
    """A call or connection attempt that got no decision; `retry`: a new session may help."""

    def __init__(self, reason: str, retry: bool = False) -> None:
        super().__init__(reason)
        self.retry = retry


@dataclass(frozen=True, slots=True)
class _Target:
    url: str
    uds: str | None
    token_file: Path | None
    plugin: str
    timeout: float


def _target(options: dict[str, Any], mode: str) -> _Target:
    unknown = sorted(set(options) - _KEYS)
    if unknown:
        raise GuardrailsError(f"unknown config keys: {', '.join(unknown)} (known: {sorted(_KEYS)})")
    url = options.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise GuardrailsError("config.url (the server's http:// or https:// MCP URL) is required")
    if QUERY_PARAM in parse_qs(urlsplit(url).query):
        raise GuardrailsError("config.url holds the token; put it in token_file (sent as a header)")
    timeout = options.get("timeout", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise GuardrailsError(f"config.timeout must be a positive number, not {timeout!r}")
    token_file, uds = options.get("token_file"), options.get("uds")
    return _Target(
        url=url,
        uds=str(uds) if uds else None,
        token_file=Path(token_file) if token_file else None,
        plugin=str(options.get("plugin") or f"guardrails-{mode}"),
        timeout=float(timeout),
    )


class _Session:
    """One MCP session, opened and closed in a task of its own.

    The transport's task group cancels the task that entered it when the connection
    breaks; that is this task, which no caller awaits, so callers only ever see a
    closed session (an exception) and the next call opens a new one.
    """

    def __init__(self, target: _Target, plugin_name: str) -> None:
        self.loop = asyncio.get_running_loop()
        self.client: ClientSession | None = None
        self.error = "closed"
        self.closed = False
        self._settled = asyncio.Event()
        self._stop = asyncio.Event()
        self.task = asyncio.create_task(self._run(target), name=f"guardrails-remote-{plugin_name}")

    async def opened(self, timeout: float) -> ClientSession:
        try:
            await asyncio.wait_for(self._settled.wait(), timeout)
        except TimeoutError:
            raise _NoAnswer(f"no connection within {timeout:g}s") from None
        if self.client is None:
            raise _NoAnswer(self.error)
        return self.client

    def usable(self) -> bool:
        return not self.closed and self.loop is asyncio.get_running_loop()

    def close(self, grace: float) -> None:
        """Stop the session: at once if it is still connecting, else after it says
        goodbye to the server (DELETE), which a hung server gets `grace` seconds for."""
        self.closed = True
        if self.task.done() or self.loop is not asyncio.get_running_loop():
            return  # a task of a loop that is gone (or another one) cannot be stopped here
        if self.client is None:
            self.task.cancel()
        else:
            self._stop.set()
            self.loop.call_later(grace, self.task.cancel)

    async def _run(self, target: _Target) -> None:
        try:
            headers = {}
            if target.token_file is not None:
                headers["Authorization"] = f"Bearer {read_token_file(target.token_file)}"
            transport = httpx.AsyncHTTPTransport(uds=target.uds) if target.uds else None
            timeout = httpx.Timeout(target.timeout, read=_SSE_READ_TIMEOUT)
            async with (
                httpx.AsyncClient(headers=headers, timeout=timeout, transport=transport) as http,
                streams(target.url, http_client=http) as (read, write),
                ClientSession(read, write) as client,
            ):
                await client.initialize()
                self.client = client
                self._settled.set()
                await self._stop.wait()
        except TokenError as err:
            self.error = f"token file: {err}"
        except BaseException as err:  # the reason callers get; only this task ends
            self.error = _reason(err)
        finally:
            self.closed = True
            self.client = None
            self._settled.set()


def _reason(err: BaseException) -> str:
    """A short reason for the log and the violation: the innermost non-group error."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    return f"{type(err).__name__}: {err}"[:300] if str(err) else type(err).__name__


class RemoteRules(Plugin):  # type: ignore[misc]
    """A cpex plugin whose decisions come from `guardrails serve --transport http`."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.group_mode = str(getattr(config.mode, "value", config.mode))
        self.metadata_key = METADATA_PREFIX + config.name
        self.problem: str | None = None
        self._target: _Target | None = None
        try:
            self._target = _target(dict(config.config or {}), self.group_mode)
        except GuardrailsError as err:
            self.problem = str(err)
            _log.error("guardrails remote plugin %s blocks every call: %s", config.name, err)
        self._session: _Session | None = None
        self._lock = asyncio.Lock()
        self._retry_at = 0.0
        self._backoff = 0.0
        self._down: str | None = None

    async def initialize(self) -> None:
        """Connect once, so a down server is logged at start-up; never fail the load."""
        if self._target is not None:
            with contextlib.suppress(_NoAnswer):
                await self._connected()

    async def shutdown(self) -> None:
        session, self._session = self._session, None
        if session is not None and self._target is not None:
            session.close(self._target.timeout)
            if session.loop is asyncio.get_running_loop():
                await asyncio.wait({session.task})

    async def invoke_hook(
        self, hook_type: str, payload: Any, context: PluginContext
    ) -> PluginResult[Any]:
        """cpex calls this for every hook of an entry that has it (as for external plugins)."""
        if self._target is None:
            reason = "the guardrails remote entry is misconfigured"
            return self._refuse(CONFIG_CODE, reason, self.problem or "")
        result_type = get_hook_registry().get_result_type(hook_type)
        if result_type is None:
            raise self._error(f"hook {hook_type!r} is not registered")
        plugin = self._target.plugin
        arguments = {HOOK_TYPE: hook_type, PLUGIN_NAME: plugin, PAYLOAD: payload, CONTEXT: context}
        try:
            answer = await self._ask(arguments)
        except _NoAnswer as err:
            reason = "no decision from the guardrails server"
            return self._refuse(UNAVAILABLE_CODE, reason, str(err))
        return self._decision(answer, context, result_type)

    async def _ask(self, arguments: dict[str, Any]) -> CallToolResult:
        """The server's answer, retried once on a new session if an old one broke
        (the server restarted since the last call)."""
        assert self._target is not None
        for attempt in (1, 2):
            session, client, fresh = await self._connected()
            try:
                return await self._call(client, arguments, self._target.timeout)
            except _NoAnswer as err:
                if self._session is session:
                    self._session = None
                    session.close(self._target.timeout)
                if fresh or not err.retry or attempt == 2:
                    self._failed(str(err))
                    raise
                _log.info("guardrails remote plugin %s reconnects: %s", self.name, err)
        raise AssertionError("unreachable")

    @staticmethod
    async def _call(
        client: ClientSession, arguments: dict[str, Any], timeout: float
    ) -> CallToolResult:
        try:
            return await asyncio.wait_for(client.call_tool(INVOKE_HOOK, arguments), timeout)
        except TimeoutError:
            raise _NoAnswer(f"no answer within {timeout:g}s") from None
        except asyncio.CancelledError as err:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise  # the caller's own cancellation
            raise _NoAnswer(f"the connection broke ({_reason(err)})", retry=True) from None
        except Exception as err:
            raise _NoAnswer(_reason(err), retry=True) from None

    async def _connected(self) -> tuple[_Session, ClientSession, bool]:
        """The open session, or a new one; (session, client, opened by this call)."""
        assert self._target is not None
        session = self._session
        if session is not None and session.client is not None and session.usable():
            return session, session.client, False
        async with self._lock:
            session = self._session
            if session is not None and session.client is not None and session.usable():
                return session, session.client, False
            if session is not None:
                self._session = None
                session.close(self._target.timeout)
            wait = self._retry_at - asyncio.get_running_loop().time()
            if wait > 0:
                raise _NoAnswer(f"{self._down} (next attempt in {wait:.2f}s)")
            session = _Session(self._target, self.name)
            try:
                client = await session.opened(self._target.timeout)
            except BaseException as err:
                session.close(self._target.timeout)
                if isinstance(err, _NoAnswer):
                    self._failed(str(err))
                raise
            self._session = session
            if self._down is not None:
                url = self._target.url
                _log.warning("guardrails remote plugin %s: %s answers again", self.name, url)
            self._down, self._backoff, self._retry_at = None, 0.0, 0.0
            return session, client, True

    def _failed(self, reason: str) -> None:
        """Note a failure: log the first of an outage, back off further attempts."""
        assert self._target is not None
        if self._down is None:
            url = self._target.url
            _log.error("guardrails remote plugin %s fails closed: %s: %s", self.name, url, reason)
        self._down = reason
        self._backoff = min(max(2 * self._backoff, _FIRST_BACKOFF), _MAX_BACKOFF)
        self._retry_at = asyncio.get_running_loop().time() + self._backoff

    def _decision(self, answer: CallToolResult, context: PluginContext, result_type: Any) -> Any:
        """The server's `invoke_hook` answer as the hook's result (as cpex's client reads it)."""
        for content in answer.content:
            if not isinstance(content, TextContent):
                continue
            try:
                reply = json.loads(content.text)
            except ValueError:
                raise self._error(f"not JSON: {content.text[:200]}") from None
            if CONTEXT in reply:
                remote = PluginContext.model_validate(reply[CONTEXT])
                context.state = remote.state
                context.metadata = remote.metadata
                context.global_context.state = remote.global_context.state
            if RESULT in reply:
                return result_type.model_validate(reply[RESULT])
            if ERROR in reply:
                raise PluginError(PluginErrorModel.model_validate(reply[ERROR]))
        raise self._error(f"no decision in the answer: {answer}"[:300])

    def _error(self, message: str) -> PluginError:
        return PluginError(PluginErrorModel(message=message, plugin_name=self.name))

    def _refuse(self, code: str, reason: str, problem: str) -> PluginResult[Any]:
        mode = MODES.get(self.group_mode)  # None: a mode cpex has and rules do not (disabled)
        if mode is not None and not mode.enforced:
            return PluginResult(metadata={self.metadata_key: [{"error": problem, "code": code}]})
        on_error = str(getattr(self.config.on_error, "value", self.config.on_error))
        if (mode is not None and mode.raises_to_block) or on_error != "fail":
            raise RemoteUnavailable(f"{self.name}: {code}: {problem}")
        return PluginResult(
            continue_processing=False,
            violation=PluginViolation(
                reason=reason,
                description=problem,
                code=code,
                details={"plugin": self.name, "problem": problem},
                http_status_code=http_status(code),
            ),
        )
