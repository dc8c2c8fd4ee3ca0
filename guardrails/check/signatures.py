"""The typing rules of the built-in operators and functions, one per family.

A rule gets the checker, the entry's name, the syntax node (for its spans) and the
operands as written, and returns the typed IR. Most rules only judge the operand
types (`typed`); `matches` and `exists` look at the operands' syntax, because their
meaning depends on it (a constant pattern compiled at load time, a fact path).
Messages name both types and point at the operator, so a rule author sees what the
checker saw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..runtime.facts import DERIVED
from ..syntax import ast
from .ir import IR, Const, FactRef, Local, Op
from .types import (
    ANY,
    BOOL,
    FLOAT,
    INT,
    LIST,
    MAP,
    NULL,
    STR,
    Type,
    comparable,
    join,
    list_of,
    orderable,
)

if TYPE_CHECKING:
    from .exprs import ExprChecker

# (checker, entry name, syntax node, operands as written) -> typed IR
Check = Callable[["ExprChecker", str, Any, tuple[ast.Expr, ...]], IR]
# (checker, syntax node, typed operands) -> result type, reporting what is wrong
Result = Callable[["ExprChecker", Any, tuple[IR, ...]], Type]


def typed(result: Result) -> Check:
    """A rule that checks every operand as an expression, then judges their types."""

    def check(c: ExprChecker, name: str, node: Any, operands: tuple[ast.Expr, ...]) -> IR:
        args = tuple(c.check(o) for o in operands)
        return Op(name, args, result(c, node, args))

    return check


_ARTICLE = {STR: "a string", INT: "an integer", FLOAT: "a number", BOOL: "a boolean",
            LIST: "a list", MAP: "a map"}  # fmt: skip


def _fits(value: Type, param: Type) -> bool:
    if value.is_any or param.is_any or value == param:
        return True
    if param == FLOAT and value == INT:
        return True
    return param.kind == "list" and value.kind == "list" and (param.elem or ANY).is_any


def signature(params: tuple[Type, ...], result: Type) -> Check:
    """A plain signature, `(str, str) -> bool`: each argument must have its parameter's
    type (`any` defers the test to run time, an int passes for a float)."""

    def judge(c: ExprChecker, node: ast.Call, args: tuple[IR, ...]) -> Type:
        for arg, param, operand in zip(args, params, node.args, strict=False):
            if not _fits(arg.type, param):
                wanted = _ARTICLE.get(param, str(param))
                c.error("GR0212", f"{node.func.name}() needs {wanted}, found {arg.type}",
                        operand.span)  # fmt: skip
        return result

    return typed(judge)


# ---- operators ----


def mismatch(c: ExprChecker, node: ast.Compare, lt: Type, rt: Type, why: str) -> None:
    c.error(
        "GR0210",
        f"type mismatch: {lt} {node.op} {rt} {why}",
        node.op_span,
        hint=_mismatch_hint(c, node, lt, rt),
    )


def _mismatch_hint(c: ExprChecker, node: ast.Compare, lt: Type, rt: Type) -> str | None:
    """A hint that fits what was written: quotes are only mentioned when a quoted
    number was written; a text fact compared with a number is pointed at its length
    (and at the facts the hook derives from it, such as `tokens`)."""
    if STR in (lt, rt) and (lt.is_number or rt.is_number):
        text, number = (node.left, node.right) if lt == STR else (node.right, node.left)
        if isinstance(text, ast.Literal) and _numeric(text.value):
            bare, other = str(text.value).strip(), _source(number)
            left, right = (bare, other) if node.left is text else (other, bare)
            return f"compare a number with a number: drop the quotes, `{left} {node.op} {right}`"
        return _text_vs_number(c, node, text, number)
    if BOOL in (lt, rt) and (lt.is_number or rt.is_number):
        return "true and false are not numbers here"
    if node.op in ("contains", "startswith", "endswith") and lt == STR and rt.kind == "list":
        left, right = _source(node.left), _source(node.right)
        return f"to test each item: `any w in {right}: {left} {node.op} w`"
    return None


def _numeric(value: object) -> bool:
    try:
        float(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def _text_vs_number(
    c: ExprChecker, node: ast.Compare, text: ast.Expr, number: ast.Expr
) -> str | None:
    written = _source(text)
    other = _source(number)
    if node.op in ("==", "!="):
        quoted = f'"{other}"' if isinstance(number, ast.Literal) else f"str({other})"
        return f"`{written}` is a string: compare it with one, `{written} {node.op} {quoted}`"
    if node.op not in ("<", "<=", ">", ">="):
        return None
    left = node.left is text

    def shown(expr: str) -> str:
        return f"{expr} {node.op} {other}" if left else f"{other} {node.op} {expr}"

    ways = [f"its length, `{shown(f'len({written})')}`"]
    derived = [d for d in DERIVED.values() if d.source == written and c.hook.fact(d.name)]
    ways += [f"its {d.name}, `{shown(d.name)}`" for d in derived]
    return f"`{written}` is a string: compare " + ", or ".join(ways)


def _source(expr: ast.Expr) -> str:
    span = expr.span
    return span.file.text[span.start : span.end]


def _null_literal(ir: IR) -> bool:
    return isinstance(ir, Const) and ir.type == NULL


def equality(c: ExprChecker, name: str, node: ast.Compare, operands: tuple[ast.Expr, ...]) -> IR:
    """`x == null` is a presence test, compiled to `is None`; other pairs must be comparable."""
    left, right = c.check(operands[0]), c.check(operands[1])
    if _null_literal(left) or _null_literal(right):
        other = right if _null_literal(left) else left
        return Op("is_null" if name == "==" else "not_null", (other,), BOOL)
    if not comparable(left.type, right.type):
        why = "is always false" if name == "==" else "is always true"
        mismatch(c, node, left.type, right.type, why)
    return Op(name, (left, right), BOOL)


def _order(c: ExprChecker, node: ast.Compare, args: tuple[IR, ...]) -> Type:
    lt, rt = args[0].type, args[1].type
    if not orderable(lt, rt):
        mismatch(c, node, lt, rt, "cannot be ordered")
    return BOOL


def _membership_ok(item: Type, container: Type) -> bool:
    if container.is_any:
        return True
    if container.kind == "list":
        return comparable(item, container.elem or ANY)
    if container.kind in ("str", "map"):
        return item == STR or item.is_any
    return False


def _membership(c: ExprChecker, node: ast.Compare, args: tuple[IR, ...]) -> Type:
    left, right = args
    item, container = (left, right) if node.op != "contains" else (right, left)
    if not _membership_ok(item.type, container.type):
        mismatch(c, node, left.type, right.type, "is not a membership test that can succeed")
    return BOOL


def _text_pair(c: ExprChecker, node: ast.Compare, args: tuple[IR, ...]) -> Type:
    for side in args:
        if not (side.type == STR or side.type.is_any):
            mismatch(c, node, args[0].type, args[1].type, "needs two strings")
            break
    return BOOL


def matches(c: ExprChecker, name: str, node: ast.Compare, operands: tuple[ast.Expr, ...]) -> IR:
    """The pattern must be a constant (compiled once at load), the text a string."""
    text = c.check(operands[0])
    if not (text.type == STR or text.type.is_any):
        c.error("GR0210", f"matches needs a string on the left, found {text.type}",
                operands[0].span)  # fmt: skip
    return Op(name, (text, c.pattern(operands[1])), BOOL)


def _arith(c: ExprChecker, node: ast.BinOp, args: tuple[IR, ...]) -> Type:
    lt, rt = args[0].type, args[1].type
    result: Type | None
    if lt.is_any or rt.is_any:
        result = ANY
    elif lt.is_number and rt.is_number:
        result = FLOAT if node.op == "/" or FLOAT in (lt, rt) else INT
    elif node.op == "+" and lt.kind == rt.kind and lt.kind in ("str", "list"):
        result = lt if lt.kind == "str" else list_of(join(lt.elem or ANY, rt.elem or ANY))
    else:
        result = None
    if result is None:
        c.error("GR0210", f"unsupported operand types for {node.op}: {lt} and {rt}", node.op_span)
        result = ANY
    return result


def negate(c: ExprChecker, name: str, node: ast.Unary, operands: tuple[ast.Expr, ...]) -> IR:
    """A negative literal folds to a constant (an index like `a[-1]` needs one)."""
    operand = c.check(operands[0])
    if isinstance(operand, Const) and operand.type.is_number:
        assert isinstance(operand.value, int | float)
        return Const(-operand.value, operand.type)
    if not (operand.type.is_number or operand.type.is_any):
        c.error("GR0210", f"cannot negate {operand.type}", node.span)
    return Op(name, (operand,), operand.type)


order = typed(_order)
membership = typed(_membership)
text_pair = typed(_text_pair)
arithmetic = typed(_arith)


# ---- functions ----


def _sized(c: ExprChecker, node: ast.Call, args: tuple[IR, ...]) -> Type:
    if args[0].type.kind not in ("str", "list", "map", "any"):
        c.error("GR0212", f"len() needs a string, list or map, found {args[0].type}",
                node.args[0].span)  # fmt: skip
    return INT


def _text(c: ExprChecker, node: ast.Call, args: tuple[IR, ...]) -> Type:
    if not (args[0].type == STR or args[0].type.is_any):
        c.error("GR0212", f"{node.func.name}() needs a string, found {args[0].type}",
                node.args[0].span)  # fmt: skip
    return STR


def _tokens(c: ExprChecker, node: ast.Call, args: tuple[IR, ...]) -> Type:
    if args[0].type.kind not in ("str", "list", "any"):
        c.error("GR0212", f"tokens() needs text, found {args[0].type}", node.args[0].span)
    return INT


def _minmax(c: ExprChecker, node: ast.Call, args: tuple[IR, ...]) -> Type:
    types = [a.type for a in args]
    if len(args) == 1:
        t = types[0]
        if t.kind == "list":
            types = [t.elem or ANY]
        elif not t.is_any:
            c.error("GR0212", f"{node.func.name}() of one argument needs a list, found {t}",
                    node.args[0].span)  # fmt: skip
            return ANY
    result = types[0]
    for i, t in enumerate(types):
        if not (t.is_number or t.is_any):
            c.error("GR0212", f"{node.func.name}() needs numbers, found {t}",
                    node.args[min(i, len(node.args) - 1)].span)  # fmt: skip
            return ANY
        result = join(result, t)
    return result


def _abs(c: ExprChecker, node: ast.Call, args: tuple[IR, ...]) -> Type:
    t = args[0].type
    if not (t.is_number or t.is_any):
        c.error("GR0212", f"abs() needs a number, found {t}", node.args[0].span)
    return t


def exists(c: ExprChecker, name: str, node: ast.Call, operands: tuple[ast.Expr, ...]) -> IR:
    """A presence test of a fact path (or of a quantified element's field): the same IR
    as `path != null`."""
    target = c.check(operands[0])
    if not isinstance(target, FactRef | Local):
        c.error("GR0212", "exists() takes a fact path, e.g. exists(tool.args.cmd)",
                operands[0].span)  # fmt: skip
    return Op("not_null", (target,), BOOL)


sized = typed(_sized)
text = typed(_text)
any_to_text = typed(lambda c, node, args: STR)
tokens = typed(_tokens)
minmax = typed(_minmax)
absolute = typed(_abs)
