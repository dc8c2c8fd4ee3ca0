"""Host functions: Python functions a policy lets its rules call, typed from annotations
(`hostsig`), and what running one call of one does.

    @guardrails.function(timeout_ms=200)
    def reputation(domain: str) -> float: ...

    policy = guardrails.load("rules/", functions=[reputation])   # or {"reputation": fn}

A function's parameter and return annotations are its signature in the rules' types
(`int`, `float`, `str`, `bool`, `list[X]`, `dict`/`Mapping` as map, `Any` as any;
`X | None` is X, and the function is then also given null), so the checker types a
call to it like a built-in. At run time each call (`bind`) checks its arguments,
runs under its timeout (never past what is left of the hook call's time budget),
and is cached for the rest of the hook call on equal arguments. An exception, a
timeout or a result of the wrong type is a `HostFunctionError`: the rule's verdict is
`error`, so the call fails closed unless the rule says `on_error ignore`.

A null argument where the function does not take null is not passed on: the call's
value is null without calling it (false for a function returning bool), as for the
built-ins (`lower(null)` is null; a test on a missing fact is false).
"""

from __future__ import annotations

import collections.abc as cabc
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from . import hostrun
from .breaker import Breaker, Breakers
from .ops import RuleTypeError, type_name
from .quoting import QuotingError, foreign, short, summary
from .state_keys import canonical

T = TypeVar("T")
PREFIX = "host:"  # an IR `Op` calling host function NAME is named `host:NAME`
SCOPE = "!host"  # the call cache's slot for this hook call's host function state
DEFAULT_TIMEOUT_MS = 1000.0
_MAX_NOTE = 300


class HostFunctionError(RuleTypeError):
    """A host function raised, timed out or returned a value of the wrong type."""

    from_input = False  # the function's failure: it counts against a breaker


class HostFunctionFailed(HostFunctionError, QuotingError):
    """A host function (or the judge) raised: its message may quote its arguments."""


class HostFunctionSpecError(TypeError):
    """A function that cannot be a host function (its annotations, its name)."""


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    """A host function's result with a note for the decision record of the rule that
    called it (`Answer(False, note="judge: NO, no source is cited")`); annotate the
    function `-> Answer[bool]`."""

    value: T
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: str  # the catalog's notation: int float str bool any map list[...]
    nullable: bool = False  # the function is given null too
    required: bool = True


@dataclass(frozen=True)
class HostFunction:
    """One host function: its name in the rules, its signature, and how to call it
    (`sync`, `async_` or both: a client with both forms is called on the host's loop
    when there is one, and synchronously otherwise)."""

    name: str
    params: tuple[Param, ...]
    result: str
    result_nullable: bool = False
    sync: Callable[..., Any] | None = None
    async_: Callable[..., cabc.Awaitable[Any]] | None = None
    timeout_ms: float = DEFAULT_TIMEOUT_MS
    doc: str = ""
    # declared without what it needs to run (the judge with no `judge=`): the checker
    # warns with this text, and every call is an error (fail closed)
    missing: str | None = None
    # runs in the rule's own thread, with no timeout of its own: for fast functions that
    # cannot hang (a lookup), which then cost no thread handoff
    inline: bool = False

    @property
    def export(self) -> str:
        return "_h_" + self.name

    @property
    def arity(self) -> tuple[int, int]:
        return sum(p.required for p in self.params), len(self.params)

    def signature(self) -> str:
        args = ", ".join(f"{p.name}: {p.type}{'|null' if p.nullable else ''}" for p in self.params)
        return f"{self.name}({args}) -> {self.result}"


class HostTable(Mapping[str, HostFunction]):
    """The host functions of one load (kept across reloads); compared by identity."""

    def __init__(self, functions: Iterable[HostFunction] = ()) -> None:
        self._by_name: dict[str, HostFunction] = {}
        for fn in functions:
            if fn.name in self._by_name:
                raise HostFunctionSpecError(f"two host functions are named {fn.name!r}")
            self._by_name[fn.name] = fn

    def __getitem__(self, name: str) -> HostFunction:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other

    def bindings(self, breakers: Breakers | None = None) -> dict[str, Any]:
        """What generated code calls, by export name. With a board whose default
        thresholds are set (`load(breaker=...)`), each function has a breaker of its
        own (`function:NAME`), kept across reloads: a function that keeps failing is
        not called while it is open, whichever rules ask."""
        board = breakers if breakers is not None and breakers.default is not None else None
        return {fn.export: bind(self, fn, board) for fn in self._by_name.values()}


# ---- one hook call ----


@dataclass(slots=True)
class Scope:
    """One hook call's host function state, kept in the call cache (`c[SCOPE]`): when
    its time budget ends (a `time.perf_counter()` time, or None), the results so far by
    (function, canonical arguments), and the notes of the rule now running."""

    deadline: float | None = None
    results: dict[tuple[str, str], tuple[Any, str | None, BaseException | None]] = field(
        default_factory=dict
    )
    notes: list[str] = field(default_factory=list)


def _check_arg(value: Any, kind: str) -> bool:
    if kind == "any":
        return True
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        if isinstance(value, float) and not math.isfinite(value):
            raise RuleTypeError(f"{value!r} is not a usable number")
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "map":
        return isinstance(value, Mapping)
    if kind.startswith("list"):
        if not isinstance(value, list | tuple):
            return False
        elem = kind[5:-1] if kind != "list" else "any"
        return all(item is not None and _check_arg(item, elem) for item in value)
    return False


def _thaw(value: Any) -> Any:
    """A copy the function may keep or change: the facts are never changed in place."""
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    return value


def bind(table: HostTable, fn: HostFunction, board: Breakers | None = None) -> Callable[..., Any]:
    """The global generated code calls as `_h_NAME(c, *args)`."""
    name = fn.name
    params = fn.params
    timeout = fn.timeout_ms / 1000
    null_value = False if fn.result == "bool" else None
    breaker: list[Breaker] = []  # made on the first real call (most functions never fail)

    def breaker_of() -> Breaker | None:
        if board is None:
            return None
        if not breaker:
            breaker.append(board.get(f"function:{name}"))
        return breaker[0]

    def call(c: dict[str, Any], *args: Any) -> Any:
        scope = c.get(SCOPE)
        if scope is None:
            scope = c[SCOPE] = Scope()
        for value, param in zip(args, params, strict=False):
            if value is None:
                if not param.nullable:
                    return null_value
            elif not _check_arg(value, param.type):
                raise RuleTypeError(f"{name}() needs {param.type} for {param.name}, got "
                                    f"{type_name(value)}")  # fmt: skip
        try:
            key: tuple[str, str] | None = (name, canonical(args))
        except (RuleTypeError, TypeError, ValueError):
            key = None  # no canonical form: not cached
        hit = scope.results.get(key) if key is not None else None
        if hit is None:
            hit = _run(table, fn, args, timeout, scope, breaker_of())
            if key is not None:
                scope.results[key] = hit
        value, note, error = hit
        if note:
            scope.notes.append(note)
        if error is not None:
            raise error
        return value

    call.__name__ = fn.export
    return call


def _run(
    table: HostTable,
    fn: HostFunction,
    args: tuple[Any, ...],
    timeout: float,
    scope: Scope,
    breaker: Breaker | None,
) -> tuple[Any, str | None, BaseException | None]:
    """(value, note, error) of one real call."""
    budget_left = None if scope.deadline is None else scope.deadline - time.perf_counter()
    if budget_left is not None and budget_left < timeout:
        if budget_left <= 0:
            return (
                None,
                None,
                HostFunctionError(
                    f"{fn.name}() was not called: the hook call's time budget is used up"
                ),
            )
        timeout = budget_left
    if breaker is not None and not breaker.allow():  # open: fail at once, no waiting
        return None, None, HostFunctionError(f"{fn.name}() not called: {breaker.open_reason()}")
    hit = _call(table, fn, args, timeout, budget_left)
    if breaker is not None:
        error = hit[2]
        if error is None:
            breaker.success()
        else:
            breaker.failure(summary(error))  # told to later callers: no quoted text
    return hit


def _call(
    table: HostTable,
    fn: HostFunction,
    args: tuple[Any, ...],
    timeout: float,
    budget_left: float | None,
) -> tuple[Any, str | None, BaseException | None]:
    try:
        raw = hostrun.call(
            table, fn.sync, fn.async_, tuple(_thaw(a) for a in args), timeout, fn.inline
        )
    except TimeoutError:
        why = (
            "its timeout_ms"
            if budget_left is None or budget_left > timeout
            else "what was left of the hook call's time budget: raise load(time_budget_ms=...)"
        )
        return (
            None,
            None,
            HostFunctionError(f"{fn.name}() timed out after {timeout * 1000:.0f} ms ({why})"),
        )
    except Exception as err:
        return None, None, foreign(err, f"{fn.name}() failed: ", HostFunctionFailed)
    note = None
    if isinstance(raw, Answer):
        note = short(str(raw.note), _MAX_NOTE) if raw.note else None
        raw = raw.value
    if raw is None:
        if fn.result_nullable:
            return None, note, None
        return None, note, HostFunctionError(f"{fn.name}() returned null, declared {fn.result}")
    try:
        fits = _check_arg(raw, fn.result)
    except RuleTypeError:
        fits = False
    if not fits:
        return (
            None,
            note,
            HostFunctionError(f"{fn.name}() returned {type_name(raw)}, declared {fn.result}"),
        )
    return _thaw(raw) if isinstance(raw, list) else raw, note, None
