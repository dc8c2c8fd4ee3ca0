"""Shared helpers: load rules from text, collect diagnostics from text."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import pytest

import guardrails
from guardrails.check.catalog import DEFAULT_CATALOG
from guardrails.diagnostics import Diagnostic
from guardrails.policy.frontend import front_end as _front_end
from guardrails.source import SourceFile

pytest_plugins = ["pytester"]

# The compiled-ruleset cache of this run (and of the processes its tests start): never
# the user's own, and every test that loads a ruleset another loaded goes through it.
_RULES_CACHE = tempfile.mkdtemp(prefix="guardrails-rules-cache-")
os.environ.setdefault("GUARDRAILS_RULES_CACHE", _RULES_CACHE)


def diagnostics_for(text: str, filename: str = "t.rules") -> list[Diagnostic]:
    _, diags = _front_end([SourceFile(filename, text)], DEFAULT_CATALOG)
    return diags


@pytest.fixture
def diags():
    return diagnostics_for


@pytest.fixture(scope="module")
def redis_server():
    """A redis-server of the module's own (tests/redis_server.py): fails without one."""
    from .redis_server import RedisServer

    server = RedisServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def policy_from():
    def make(text: str, **kwargs: object) -> guardrails.Policy:
        return guardrails.loads(text, "t.rules", **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def failing_dependency(monkeypatch: pytest.MonkeyPatch) -> None:
    """`+` on a string stands in for a dependency that fails (a host function's
    service, a judge): it raises what a broken dependency raises. A payload's own type
    error never counts against a breaker (tests/test_attack_issue17.py), so these
    tests of the breaker's states need a failure that is not the caller's."""
    from guardrails.runtime import EXPORTS, ops

    def add(a: Any, b: Any) -> Any:
        if isinstance(a, str) or isinstance(b, str):
            raise RuntimeError("unsupported operand: the inventory service is down")
        return ops.add(a, b)

    monkeypatch.setitem(EXPORTS, "_add", add)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Close Mellea's background event loop while the interpreter is still whole.

    Left to its `__del__` at interpreter exit, Mellea 0.8 prints an ignored
    AttributeError (its module globals are already gone) after pytest's summary.
    """
    import sys

    shutil.rmtree(_RULES_CACHE, ignore_errors=True)
    helper = sys.modules.get("mellea.helpers.event_loop_helper")
    handler = getattr(helper, "__event_loop_handler", None) if helper else None
    if handler is not None:
        handler._close_event_loop(join_timeout=1.0)
        setattr(helper, "__event_loop_handler", None)
