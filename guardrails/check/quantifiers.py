"""`any`/`all`/`count`/`filter` over a list: the bound name's scope and types.

A quantifier binds a name to each element of a list while its condition is checked,
so the condition is typed against the element type (`m.role` on a list of maps is
`any`; `.role` on a list of strings is an error). The bound name may not hide a
fact, a let, a state or an outer bound name: a rule that reads `user` inside
`any user in ...` would mean something other than what it says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..source import Span
from ..syntax import ast
from .ir import IR, Const, Local, PathKey, Quantified
from .types import ANY, BOOL, FINDING_FIELDS, INT, Type, list_of

if TYPE_CHECKING:
    from .exprs import ExprChecker

KINDS = ("any", "all", "count", "filter")


def element_type(items: IR) -> Type | None:
    """The type of one element, or None when `items` can never be a list."""
    t = items.type
    if t.kind == "list":
        return t.elem or ANY
    if t.is_any or t.kind == "null":
        return ANY
    return None


def result_type(kind: str, elem: Type) -> Type:
    if kind == "count":
        return INT
    if kind == "filter":
        return list_of(elem)
    return BOOL


def check_quantified(checker: ExprChecker, node: ast.Quantified) -> IR:
    items = checker.check(node.items)
    elem = element_type(items)
    if elem is None:
        checker.error(
            "GR0260",
            f"{node.kind} needs a list; this is {items.type}",
            node.items.span,
            hint=_NOT_A_LIST.get(items.type.kind, "quantify over a list fact, e.g. `messages`"),
        )
        elem = ANY
    name = node.var.name
    taken = _taken(checker, name)
    if taken is not None:
        checker.error(
            "GR0261",
            f"'{name}' is already {taken}; a bound name may not hide it",
            node.var.span,
            hint="choose another name for the element, e.g. `m` or `item`",
        )
    var = checker.bind(name, elem)
    try:
        body = checker.condition(node.body)
    finally:
        used = checker.unbind(name)
    if not used and taken is None:
        checker.warn(
            "GR0320",
            f"the condition does not use '{name}', so it is the same for every element",
            node.body.span,
            hint=f'test the element, e.g. `{name}.role == "user"`, or drop the quantifier',
        )
    return Quantified(node.kind, var, items, body, result_type(node.kind, elem), name)


def local(
    checker: ExprChecker,
    name: str,
    var: int,
    elem: Type,
    keys: list[tuple[PathKey, Span]],
    span: Span,
) -> IR:
    """A bound name and the keys read from it, typed by descending the element type."""
    from .exprs import descend

    t = descend(elem, tuple(k for k, _ in keys))
    if t is None:
        finding = elem.kind == "finding"
        checker.error(
            "GR0276" if finding else "GR0201",
            f"each element here is {elem}; it has no field '{keys[0][0]}'",
            span,
            hint="its fields are " + ", ".join(FINDING_FIELDS) if finding else None,
        )
        return Const(None, ANY)
    return Local(var, tuple(k for k, _ in keys), t, name)


def _taken(checker: ExprChecker, name: str) -> str | None:
    if name in _LITERALS:  # `any null in xs: null == 1` would test the literal
        return "a literal"
    if checker.bound(name):
        return "bound by an outer quantifier"
    if name in checker.lets:
        return "a let"
    if checker.states is not None and name in checker.states:
        return "a state"
    hook = checker.hook
    if hook.fact(name) is not None or any(f.startswith(name + ".") for f in hook.facts):
        return f"a fact of hook {hook.name}"
    return None


_LITERALS = frozenset({"true", "false", "null"})
_NOT_A_LIST = {
    "str": "a string is not a list of anything; test it directly, e.g. `x matches /.../`",
    "map": "a map is not a list: range over values(x) or keys(x)",
}
