"""The language's operators and built-in functions: one entry each, in one registry.

An entry holds everything the stages need to know about one operation: its typing
rule (`check/signatures.py`), the runtime function generated code calls and the
name it calls it by, the inline fast path codegen may write instead, and how
`--explain` shows it. The checker, codegen, `runtime.EXPORTS` and the explainer
all read this table, so adding a function is one entry here plus its doc line.

It lives in `check/` because that is the lowest layer that can hold a whole entry:
a signature is written in the checker's types, and `check/` may import `runtime/`
while `runtime/` imports only the standard library. The runtime functions stay in
`runtime/` (generated code must not load the checker), and registering an entry
writes its function into `runtime.EXPORTS` under its export name: the generated
code keeps calling a plain global, with no lookup through this table per call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from ..runtime import EXPORTS, ops, quantifiers, reasons, text
from . import signatures as sig
from .signatures import Check
from .types import ANY, LIST, MAP

Kind = Literal["operator", "function", "internal"]


@dataclass(frozen=True, slots=True)
class Inline:
    """A fast path codegen writes in place of the call: a family of
    `compile/fastpath.py` and the Python spelling it uses (`<`, `startswith`,
    `({0} is None)`). The fast path only shortcuts values whose exact type makes
    Python's operator agree with the runtime function; the rest still call it."""

    family: Literal["compare", "method", "membership", "contains", "truth", "template"]
    python: str = ""


@dataclass(frozen=True, slots=True)
class Builtin:
    """One operator or function. `kind`: `operator` (spelled by the grammar),
    `function` (called by name, so it needs no grammar), `internal` (made by the
    checker itself, e.g. `truth` around an untyped condition)."""

    name: str
    kind: Kind
    check: Check | None  # None for internal operations
    # None: bound per load by `runtime.facts.make_bindings` (it depends on the tokenizer
    # or the text cap); otherwise also the default that binding may replace
    runtime: Callable[..., Any] | None
    export: str  # the global generated code calls
    arity: tuple[int, int | None] = (1, 1)  # functions: (min, max or None)
    inline: Inline | None = None
    # explain's rendering, a format over the operands; None: infix for operators,
    # a call for functions
    render: str | None = None
    # the load's text size cap -> the function generated code calls (a detector)
    bind: Callable[[int], Callable[..., Any]] | None = None


class Registry(Mapping[str, Builtin]):
    """Entries by name. Names are unique across kinds: an IR `Op` names its entry."""

    def __init__(self) -> None:
        self._entries: dict[str, Builtin] = {}
        self.functions: Mapping[str, Builtin] = _View(self, "function")
        self.operators: Mapping[str, Builtin] = _View(self, "operator")
        self.exports: Mapping[str, str] = _Exports(self)

    def __getitem__(self, name: str) -> Builtin:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: Builtin) -> None:
        """Register an entry; a name or an export already taken is an error, since a
        silent replacement would change rules that are already written."""
        if entry.name in self._entries:
            raise ValueError(f"{entry.name!r} is already a built-in")
        # EXPORTS holds every registered function and the names codegen writes for
        # itself (type guards, `_get_path`): taking one would rewire compiled rules.
        # (An entry without a runtime function, bound per load or checked into
        # another entry, writes nothing there.)
        if entry.runtime is not None and entry.export in EXPORTS:
            raise ValueError(f"export {entry.export!r} is already taken")
        self._entries[entry.name] = entry
        if entry.runtime is not None:
            EXPORTS[entry.export] = entry.runtime

    def remove(self, name: str) -> None:
        entry = self._entries.pop(name)
        if entry.runtime is not None and EXPORTS.get(entry.export) is entry.runtime:
            del EXPORTS[entry.export]

    @contextmanager
    def added(self, *entries: Builtin) -> Iterator[None]:
        """Entries that exist only inside the `with` block (tests, experiments);
        policies loaded inside keep working after it, since a load copies the
        namespace."""
        for entry in entries:
            self.add(entry)
        try:
            yield
        finally:
            for entry in reversed(entries):
                self.remove(entry.name)


class _View(Mapping[str, Builtin]):
    """The entries of one kind, live: a scoped registration shows up at once."""

    def __init__(self, registry: Registry, kind: Kind) -> None:
        self._registry = registry
        self._kind = kind

    def __getitem__(self, name: str) -> Builtin:
        entry = self._registry[name]
        if entry.kind != self._kind:
            raise KeyError(name)
        return entry

    def __iter__(self) -> Iterator[str]:
        return (n for n, e in self._registry.items() if e.kind == self._kind)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Exports(Mapping[str, str]):
    """Entry name -> the global generated code calls."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def __getitem__(self, name: str) -> str:
        return self._registry[name].export

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry)

    def __len__(self) -> int:
        return len(self._registry)


def operator(
    name: str,
    check: Check,
    runtime: Callable[..., Any] | None,
    export: str,
    inline: Inline | None = None,
    render: str | None = None,
) -> Builtin:
    return Builtin(name, "operator", check, runtime, export, (2, 2), inline, render)


def function(
    name: str,
    check: Check,
    runtime: Callable[..., Any] | None,
    export: str | None = None,
    arity: tuple[int, int | None] = (1, 1),
) -> Builtin:
    return Builtin(name, "function", check, runtime, export or f"_{name}", arity)


def internal(
    name: str, runtime: Callable[..., Any], export: str, render: str, inline: Inline | None = None
) -> Builtin:
    return Builtin(name, "internal", None, runtime, export, inline=inline, render=render)


def _compare(python: str) -> Inline:
    return Inline("compare", python)


BUILTINS = Registry()
for _entry in (
    # comparisons (grammar: comp_op); the fast paths are in compile/fastpath.py
    operator("==", sig.equality, ops.eq, "_eq", _compare("==")),
    operator("!=", sig.equality, ops.ne, "_ne", _compare("!=")),
    operator("<", sig.order, ops.lt, "_lt", _compare("<")),
    operator("<=", sig.order, ops.le, "_le", _compare("<=")),
    operator(">", sig.order, ops.gt, "_gt", _compare(">")),
    operator(">=", sig.order, ops.ge, "_ge", _compare(">=")),
    operator("in", sig.membership, ops.in_, "_in", Inline("membership", "in")),
    operator("not in", sig.membership, ops.not_in, "_not_in", Inline("membership", "not in")),
    operator("contains", sig.membership, ops.contains, "_contains", Inline("contains", "in")),
    operator(
        "startswith", sig.text_pair, ops.startswith, "_startswith", Inline("method", "startswith")
    ),
    operator("endswith", sig.text_pair, ops.endswith, "_endswith", Inline("method", "endswith")),
    operator("matches", sig.matches, None, "_matches"),
    # arithmetic (grammar: add_op, mul_op, unary minus)
    operator("+", sig.arithmetic, ops.add, "_add"),
    operator("-", sig.arithmetic, ops.sub, "_sub"),
    operator("*", sig.arithmetic, ops.mul, "_mul"),
    operator("/", sig.arithmetic, ops.div, "_div"),
    Builtin("neg", "operator", sig.negate, ops.neg, "_neg", arity=(1, 1), render="-{0}"),
    # built-in functions (grammar: call); each needs a line in docs/language.md
    function("len", sig.sized, ops.len_),
    function("lower", sig.text, ops.lower),
    function("normalize", sig.text, ops.normalize),
    function("basename", sig.text, ops.basename),
    function("upper", sig.text, ops.upper),
    function("trim", sig.text, ops.trim),
    function("text", sig.any_to_text, text.text),
    function("tokens", sig.tokens, None),
    function("min", sig.minmax, ops.min_, arity=(1, None)),
    function("max", sig.minmax, ops.max_, arity=(1, None)),
    function("abs", sig.absolute, ops.abs_),
    function("exists", sig.exists, None, "_not_null"),  # checked into `not_null`
    function("lookup", sig.signature((MAP, ANY, ANY), ANY), ops.lookup, arity=(2, 3)),
    function("values", sig.signature((MAP,), LIST), quantifiers.values),
    function("keys", sig.signature((MAP,), LIST), quantifiers.keys),
    # made by the checker, never written
    internal("truth", ops.truth, "_truth", "{0}", Inline("truth")),
    # quantifiers (grammar: quantified); IR `Quantified` names its entry by kind
    internal("any", quantifiers.any_of, "_any_of", "any"),
    internal("all", quantifiers.all_of, "_all_of", "all"),
    internal("count", quantifiers.count_of, "_count_of", "count"),
    internal("filter", quantifiers.filter_of, "_filter_of", "filter"),
    internal("reason", reasons.render_reason, "_reason", "{0}"),  # a `{fact}` reason
    internal("get", ops.get, "_get", "{0}[{1}]"),
    internal(
        "is_null", ops.is_null, "_is_null", "{0} == null", Inline("template", "({0} is None)")
    ),
    internal(
        "not_null",
        ops.not_null,
        "_not_null",
        "exists({0})",
        Inline("template", "({0} is not None)"),
    ),
):
    BUILTINS.add(_entry)
