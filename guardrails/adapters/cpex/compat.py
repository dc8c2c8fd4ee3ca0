"""Every difference between the cpex versions we run on that our code touches, in one place.

cpex 0.1.3 (what the ContextForge gateway installs) is built on the MCP SDK 1.x;
cpex 0.1.4 on the MCP SDK 2. For `serve.py` and `remote.py` the two differ in four
names and one setting only, and nothing in what they do:

| | cpex 0.1.3 + mcp 1.x | cpex 0.1.4 + mcp 2 |
|---|---|---|
| cpex's MCP server class (in its `runtime` module) | `SSLCapableFastMCP` | `SSLCapableMCPServer` |
| HTTP client library the MCP client takes | `httpx` | `httpx2` |
| MCP message types | `mcp.types` | `mcp_types` |
| `streamable_http_client(...)` yields | (read, write, session id) | (read, write) |
| `serve`'s MCP app options (JSON replies, no session) | server settings | arguments |

The MCP SDK's major version decides the last four (it is what requires httpx2 and
mcp_types); the server class is looked up by name, whichever the runtime has. Types
are checked against mcp 2, the development environment.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
from collections.abc import AsyncIterator
from importlib.metadata import version
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mcp.client.streamable_http import streamable_http_client

MCP2 = int(version("mcp").split(".")[0]) >= 2

if TYPE_CHECKING:
    import httpx2 as httpx
    from mcp_types import CallToolResult, TextContent
else:
    httpx = importlib.import_module("httpx2" if MCP2 else "httpx")
    _types = importlib.import_module("mcp_types" if MCP2 else "mcp.types")
    CallToolResult = _types.CallToolResult
    TextContent = _types.TextContent

__all__ = [
    "MCP2",
    "CallToolResult",
    "TextContent",
    "httpx",
    "server_class_name",
    "http_options",
    "streams",
]

_SERVER_CLASS_NAMES = ("SSLCapableMCPServer", "SSLCapableFastMCP")


def server_class_name(runtime: ModuleType) -> str:
    """The name under which cpex's MCP runtime module holds its server class.

    `runtime.run()` looks the class up by this name when it starts, so replacing the
    module attribute is how `guardrails serve` puts its subclass in.
    """
    for name in _SERVER_CLASS_NAMES:
        if isinstance(getattr(runtime, name, None), type):
            return name
    raise ImportError(
        f"{runtime.__name__} has none of {', '.join(_SERVER_CLASS_NAMES)}: "
        "a cpex version guardrails does not support"
    )


@contextlib.asynccontextmanager
async def streams(url: str, http_client: httpx.AsyncClient) -> AsyncIterator[tuple[Any, Any]]:
    """The (read, write) streams of a streamable HTTP connection to `url`.

    mcp 1.x also yields a callable returning the session id, which we do not use.
    """
    async with streamable_http_client(url, http_client=http_client) as opened:
        yield opened[0], opened[1]


# The first gateway release that declares `mcp<2`; earlier ones install next to mcp 2
# (pip picks 1.0.6 for `pip install guardrails-rules mcp-contextforge-gateway`) and
# then fail to import: `cannot import name 'streamablehttp_client'`.
_GATEWAY_ON_MCP1 = (1, 0, 7)


def gateway_problem() -> str | None:
    """Why the installed ContextForge gateway cannot start next to this cpex, if it
    cannot: `check-config` reports it, since the gateway's own error names neither
    the versions nor the fix."""
    from importlib.metadata import PackageNotFoundError

    try:
        gateway = version("mcp-contextforge-gateway")
    except PackageNotFoundError:
        return None
    if not MCP2 or _release(gateway) >= _GATEWAY_ON_MCP1:
        return None
    return (
        f"mcp-contextforge-gateway {gateway} is installed with mcp {version('mcp')}: gateway "
        "releases before 1.0.7 do not import on the MCP SDK 2 (cannot import name "
        "'streamablehttp_client'). Fix: pip install 'guardrails-rules[gateway]' (gateway "
        ">= 1.0.7 with cpex 0.1.3 on mcp 1.x)"
    )


def _release(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split("."):
        digits = "".join(itertools.takewhile(str.isdigit, part))
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) < len(part):
            break
    return tuple(parts)


def http_options(server: Any, kwargs: dict[str, Any], stateless: bool) -> None:
    """Make `server.streamable_http_app(**kwargs)` answer each POST with one JSON body
    instead of an SSE stream, and with `stateless` keep no MCP session (every request
    stands alone). mcp 2 takes both as arguments; mcp 1.x's `streamable_http_app()`
    takes none and reads the server's settings."""
    if MCP2:
        kwargs["json_response"] = True
        kwargs["stateless_http"] = stateless
    else:
        server.settings.json_response = True
        server.settings.stateless_http = stateless
