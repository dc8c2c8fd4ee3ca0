"""Inline fast paths for the common checks, with the runtime function as the fallback.

`tokens > 4000` compiles to

    (_v0 > 4000) if type(_v0 := <tokens>) is int or (type(_v0) is float and
    _v0 - _v0 == 0.0) else _gt(_v0, 4000)

so a value of the expected type is compared by Python directly, and every other value
(null, a bool, a string, a host object) goes to `runtime.ops`, which decides exactly
as before. The guard tests the *exact* type, so semantics cannot change: the fast
branch only runs where Python's operator and ours agree. Which operators have a fast
path, and of which family, is declared by their entry in `check/builtins.py`; the
families are written here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..check import ir
from ..check.builtins import Builtin
from ..runtime.facts import DERIVED

if TYPE_CHECKING:
    from .codegen import Generator

_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _scalar(node: ir.IR) -> object:
    """The constant's value when it is a plain number or string, else a sentinel."""
    if isinstance(node, ir.Const) and type(node.value) in (int, float, str):
        return node.value
    return _NO


_NO = object()


def compare(gen: Generator, node: ir.Op, entry: Builtin) -> str | None:
    """The inline form of a two-operand test whose entry declares a fast path of the
    compare, method, membership or contains family; None when these operands have none."""
    assert entry.inline is not None
    family, python, slow_fn = entry.inline.family, entry.inline.python, entry.export
    if len(node.args) != 2:
        return None
    left, right = node.args
    if family == "membership":
        return (
            _membership(gen, python, slow_fn, left, right) if isinstance(right, ir.Const) else None
        )
    if family == "contains":
        value = _scalar(right)
        if type(value) is not str:
            return None
        var, lit = gen.temp(), gen.lit(value)
        return (
            f"(({lit} {python} {var}) if type({var} := {gen.emit(left)}) is str "
            f"else {slow_fn}({var}, {lit}))"
        )
    const, other, flipped = _scalar(right), left, False
    if const is _NO:
        const, other, flipped = _scalar(left), right, True
    if const is _NO or (family == "method" and (flipped or not isinstance(const, str))):
        return None
    var, lit = gen.temp(), gen.lit(const)
    py = _MIRROR[python] if flipped else python
    source = _derived_source(other)
    if source is not None and not isinstance(const, str):
        # `tokens > 4000`: a given non-negative int with no prompt to estimate from is
        # the value; every other case takes the derivation (one type test, not two)
        assert isinstance(other, ir.FactRef) and other.derived is not None
        slow_value = f"{DERIVED[other.derived].binding}(f, c)"
        slow_args = f"{lit}, {slow_value}" if flipped else f"{slow_value}, {lit}"
        guard = _given(var, other.derived, source)
        return f"(({var} {py} {lit}) if {guard} else {slow_fn}({slow_args}))"
    probe = gen.emit(other)
    slow_args = f"{lit}, {var}" if flipped else f"{var}, {lit}"
    slow = f"{slow_fn}({slow_args})"
    if isinstance(const, str):
        guard = f"type({var} := {probe}) is str"
        fast = f"{var}.{python}({lit})" if family == "method" else f"{var} {py} {lit}"
    else:
        # NaN and infinities take the slow path, which rejects them (`x - x` is 0.0
        # for every finite float and NaN for the others)
        guard = f"type({var} := {probe}) is int or (type({var}) is float and {var} - {var} == 0.0)"
        fast = f"{var} {py} {lit}"
    return f"(({fast}) if {guard} else {slow})"


def _membership(
    gen: Generator, py: str, slow_fn: str, item: ir.IR, container: ir.Const
) -> str | None:
    values = container.value
    if isinstance(values, str):  # `x in "text"`: a substring test
        var, lit = gen.temp(), gen.lit(values)
        return (
            f"(({var} {py} {lit}) if type({var} := {gen.emit(item)}) is str "
            f"else {slow_fn}({var}, {lit}))"
        )
    if not isinstance(values, tuple) or not values or not all(type(v) is str for v in values):
        return None
    table = gen.hoist(frozenset(values))
    original = gen.hoist(values)
    var = gen.temp()
    return (
        f"(({var} {py} {table}) if type({var} := {gen.emit(item)}) is str "
        f"else {slow_fn}({var}, {original}))"
    )


def _given(var: str, fact: str, source: str) -> str:
    """The one case a derived fact's given value stands unchecked: a non-negative int
    and no source fact to derive a larger value from (runtime/facts.py)."""
    return f"type({var} := f.get({fact!r})) is int and {var} >= 0 and f.get({source!r}) is None"


def _derived_source(node: ir.IR) -> str | None:
    if isinstance(node, ir.FactRef) and node.derived is not None and len(node.path) == 1:
        return DERIVED[node.derived].source
    return None


def truth(gen: Generator, node: ir.Op, entry: Builtin) -> str:
    var = gen.temp()
    arg = gen.emit(node.args[0])
    return f"({var} if type({var} := {arg}) is bool else {entry.export}({var}))"


def path(gen: Generator, base: str, keys: tuple[ir.PathKey, ...]) -> str:
    """`base[k1][k2]...`, null-safe: dicts inline, everything else through `_get`."""
    for key in keys:
        var = gen.temp()
        base = f"({var}.get({key!r}) if type({var} := {base}) is dict else _get({var}, {key!r}))"
    return base


def derived(gen: Generator, fact: str) -> str:
    """A derived fact (runtime/facts.py): a given value never simply wins, since the
    engine checks it against what it can see. Inline, only the case with nothing to
    check: a given non-negative int, and no source fact to derive a larger one from."""
    entry = DERIVED[fact]
    var = gen.temp()
    return f"({var} if {_given(var, fact, entry.source)} else {entry.binding}(f, c))"
