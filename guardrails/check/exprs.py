"""Expression typing and resolution: AST expression -> typed IR, against one hook.

Every node class has a `check_<Class>` method; a missing one raises (never a silent
walk). Type errors name both operand types and point at the operator.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from ..diagnostics import Diagnostic, Severity
from ..runtime.ops import Regex
from ..source import Span
from ..syntax import ast
from .catalog import FactSpec, HookSpec
from .ir import IR, Const, FactRef, ListOf, Op, PathKey
from .names import LetTable, literal_const
from .regexes import compile_regex, is_regex
from .types import (
    ANY,
    BOOL,
    FLOAT,
    INT,
    NULL,
    REGEX,
    STR,
    Type,
    comparable,
    join,
    list_of,
    orderable,
)

_ORDER_OPS = {"<", "<=", ">", ">="}
_STRING_OPS = {"startswith", "endswith"}


class ExprChecker:
    def __init__(
        self,
        hook: HookSpec,
        lets: LetTable,
        diags: list[Diagnostic],
        elsewhere: Callable[[str], list[str]] | None = None,
    ) -> None:
        self.hook = hook
        self.elsewhere = elsewhere or (lambda _fact: [])
        self.lets = lets
        self.diags = diags

    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(code, Severity.ERROR, message, span, hint))

    def check(self, node: ast.Expr) -> IR:
        method: Callable[[ast.Expr], IR] | None = getattr(
            self, f"check_{type(node).__name__}", None
        )
        if method is None:
            raise NotImplementedError(f"no checker for {type(node).__name__}")
        return method(node)

    def condition(self, node: ast.Expr) -> IR:
        """An expression used as a condition must be a boolean."""
        ir = self.check(node)
        return self._as_bool(ir, node)

    def _as_bool(self, ir: IR, node: ast.Expr) -> IR:
        if ir.type == BOOL:
            return ir
        if ir.type.is_any:
            return Op("truth", (ir,), BOOL)
        self.error(
            "GR0211",
            f"expected a boolean condition, found {ir.type}",
            node.span,
            hint="compare it, e.g. `x == ...`, or test presence with `exists(x)`",
        )
        return Const(False, BOOL)

    # ---- leaves ----

    def check_Literal(self, node: ast.Literal) -> IR:
        return literal_const(node.value)

    def check_RegexLit(self, node: ast.RegexLit) -> IR:
        pattern = compile_regex(node.pattern, node.flags, node.span, self.diags)
        return Const(pattern, REGEX)

    def check_ListExpr(self, node: ast.ListExpr) -> IR:
        items = [self.check(item) for item in node.items]
        elem: Type = items[0].type if items else ANY
        for item in items[1:]:
            elem = join(elem, item.type)
        if all(isinstance(i, Const) for i in items):
            return Const(tuple(i.value for i in items if isinstance(i, Const)), list_of(elem))
        return ListOf(tuple(items), list_of(elem))

    # ---- names and paths ----

    def check_Name(self, node: ast.Name) -> IR:
        return self._path(node)

    def check_Attr(self, node: ast.Attr) -> IR:
        return self._path(node)

    def check_Index(self, node: ast.Index) -> IR:
        return self._path(node)

    def _flatten(self, node: ast.Expr) -> tuple[ast.Expr, list[tuple[PathKey, Span]]] | None:
        """`a.b[0]` -> (Name a, [("b", span), (0, span)]); None when a key is not literal."""
        keys: list[tuple[PathKey, Span]] = []
        while isinstance(node, ast.Attr | ast.Index):
            if isinstance(node, ast.Attr):
                keys.append((node.name, node.span))
            else:
                key = node.index
                if (
                    isinstance(key, ast.Unary)
                    and key.op == "-"
                    and isinstance(key.operand, ast.Literal)
                    and type(key.operand.value) is int
                ):
                    key = ast.Literal(-key.operand.value, span=key.span)
                if not (
                    isinstance(key, ast.Literal)
                    and isinstance(key.value, str | int)
                    and not isinstance(key.value, bool)
                ):
                    self.error(
                        "GR0213",
                        "index must be a literal string or integer",
                        key.span,
                        hint='write a["key"] or a[0]',
                    )
                    return None
                keys.append((key.value, node.span))
            node = node.obj
        keys.reverse()
        return node, keys

    def _path(self, node: ast.Expr) -> IR:
        flat = self._flatten(node)
        if flat is None:
            return Const(None, ANY)
        root, keys = flat
        if not isinstance(root, ast.Name):
            base = self.check(root)
            for key, _ in keys:
                base = Op("get", (base, Const(key, STR if isinstance(key, str) else INT)), ANY)
            return base
        if root.name in self.lets:
            const = self.lets.value(root.name)
            value: object = const.value
            vtype = const.type
            for key, _ in keys:
                value, vtype = _index_const(value, key), ANY
            return Const(value, vtype if keys else const.type) if keys else const
        path: tuple[PathKey, ...] = (root.name, *(k for k, _ in keys))
        resolved = resolve_fact(self.hook, path)
        if resolved is None:
            self._unknown(root, path, node.span)
            return Const(None, ANY)
        spec, rest = resolved
        ftype = descend(spec.type, rest)
        if ftype is None:
            self.error(
                "GR0201",
                f"'{spec.path}' is {spec.type}; it has no field '{rest[0]}'",
                node.span,
            )
            return Const(None, ANY)
        return FactRef(path, ftype, spec.path if spec.derived else None)

    def _unknown(self, root: ast.Name, path: tuple[PathKey, ...], span: Span) -> None:
        dotted = ".".join(str(k) for k in path if isinstance(k, str))
        facts = list(self.hook.facts)
        other_hooks = self.elsewhere(dotted)
        if other_hooks and not difflib.get_close_matches(dotted, facts, n=1, cutoff=0.7):
            shown = ", ".join(other_hooks[:4]) + (", ..." if len(other_hooks) > 4 else "")
            self.error(
                "GR0202" if len(path) == 1 else "GR0201",
                f"'{dotted}' is not a fact of hook {self.hook.name}",
                span,
                hint=f"'{dotted}' exists on {shown}",
            )
            return
        if len(path) == 1:
            candidates = facts + list(self.lets.lets)
            close = difflib.get_close_matches(root.name, candidates, n=1, cutoff=0.7)
            self.error(
                "GR0202",
                f"unknown name '{root.name}' on hook {self.hook.name}",
                span,
                hint=f"did you mean '{close[0]}'?" if close else _facts_hint(self.hook),
            )
            return
        close = difflib.get_close_matches(dotted, facts, n=1, cutoff=0.7)
        self.error(
            "GR0201",
            f"unknown fact '{dotted}' on hook {self.hook.name}",
            span,
            hint=f"did you mean '{close[0]}'?" if close else _facts_hint(self.hook),
        )

    # ---- operators ----

    def check_Unary(self, node: ast.Unary) -> IR:
        if node.op == "not":
            return Op("not", (self.condition(node.operand),), BOOL)
        operand = self.check(node.operand)
        if isinstance(operand, Const) and operand.type.is_number:
            assert isinstance(operand.value, int | float)
            return Const(-operand.value, operand.type)
        if not (operand.type.is_number or operand.type.is_any):
            self.error("GR0210", f"cannot negate {operand.type}", node.span)
        return Op("neg", (operand,), operand.type)

    def check_BoolOp(self, node: ast.BoolOp) -> IR:
        return Op(node.op, (self.condition(node.left), self.condition(node.right)), BOOL)

    def check_BinOp(self, node: ast.BinOp) -> IR:
        left, right = self.check(node.left), self.check(node.right)
        lt, rt = left.type, right.type
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
            self.error(
                "GR0210", f"unsupported operand types for {node.op}: {lt} and {rt}", node.op_span
            )
            result = ANY
        return Op(node.op, (left, right), result)

    def check_Compare(self, node: ast.Compare) -> IR:
        op = node.op
        if op == "matches":
            return Op("matches", (self._text(node.left), self.pattern(node.right)), BOOL)
        left, right = self.check(node.left), self.check(node.right)
        lt, rt = left.type, right.type
        if op in ("==", "!="):
            null_side = _null_literal(left) or _null_literal(right)
            if null_side:
                other = right if _null_literal(left) else left
                return Op("is_null" if op == "==" else "not_null", (other,), BOOL)
            if not comparable(lt, rt):
                self._mismatch(node, lt, rt, "is always false" if op == "==" else "is always true")
            return Op(op, (left, right), BOOL)
        if op in _ORDER_OPS:
            if not orderable(lt, rt):
                self._mismatch(node, lt, rt, "cannot be ordered")
            return Op(op, (left, right), BOOL)
        if op in ("in", "not in", "contains"):
            item, container = (left, right) if op != "contains" else (right, left)
            ok = _membership_ok(item.type, container.type)
            if not ok:
                self._mismatch(node, lt, rt, "is not a membership test that can succeed")
            return Op(op, (left, right), BOOL)
        if op in _STRING_OPS:
            for side in (left, right):
                if not (side.type == STR or side.type.is_any):
                    self._mismatch(node, lt, rt, "needs two strings")
                    break
            return Op(op, (left, right), BOOL)
        raise NotImplementedError(op)

    def _mismatch(self, node: ast.Compare, lt: Type, rt: Type, why: str) -> None:
        self.error(
            "GR0210",
            f"type mismatch: {lt} {node.op} {rt} {why}",
            node.op_span,
            hint=_mismatch_hint(lt, rt),
        )

    def _text(self, node: ast.Expr) -> IR:
        ir = self.check(node)
        if not (ir.type == STR or ir.type.is_any):
            self.error("GR0210", f"matches needs a string on the left, found {ir.type}", node.span)
        return ir

    def pattern(self, node: ast.Expr) -> Const:
        """A constant regex, string or list of them -> Const(tuple of compiled patterns)."""
        patterns: list[Regex] = []
        ok = self._collect_patterns(node, patterns)
        return Const(tuple(patterns) if ok else (), REGEX)

    def _collect_patterns(self, node: ast.Expr, out: list[Regex]) -> bool:
        if isinstance(node, ast.RegexLit):
            pattern = compile_regex(node.pattern, node.flags, node.span, self.diags)
            if pattern is not None:
                out.append(pattern)
            return pattern is not None
        if isinstance(node, ast.Literal) and isinstance(node.value, str):
            pattern = compile_regex(node.value, "", node.span, self.diags)
            if pattern is not None:
                out.append(pattern)
            return pattern is not None
        if isinstance(node, ast.ListExpr):
            return all([self._collect_patterns(item, out) for item in node.items])
        if isinstance(node, ast.Name) and node.name in self.lets:
            const = self.lets.value(node.name)
            values = const.value if isinstance(const.value, tuple) else (const.value,)
            for value in values:
                if is_regex(value):
                    out.append(value)
                elif isinstance(value, str):
                    pattern = compile_regex(value, "", node.span, self.diags, body_offset=0)
                    if pattern is None:
                        return False
                    out.append(pattern)
                elif const.type != ANY:  # ANY: the let already failed and was reported
                    self.error(
                        "GR0221",
                        f"let '{node.name}' is not a regex, a string or a list of them",
                        node.span,
                    )
                    return False
            return True
        self.error(
            "GR0221",
            "the pattern must be a constant: a /regex/, a string, a list of them, or a let",
            node.span,
            hint="patterns are compiled once at load time",
        )
        return False

    # ---- calls ----

    def check_Call(self, node: ast.Call) -> IR:
        name = node.func.name
        sig = BUILTINS.get(name)
        if sig is None:
            close = difflib.get_close_matches(name, list(BUILTINS), n=1, cutoff=0.6)
            self.error(
                "GR0203",
                f"unknown function '{name}'",
                node.func.span,
                hint=f"did you mean '{close[0]}'?"
                if close
                else "functions: " + ", ".join(sorted(BUILTINS)),
            )
            for arg in node.args:
                self.check(arg)
            return Const(None, ANY)
        low, high, _ = sig
        n = len(node.args)
        if n < low or (high is not None and n > high):
            want = (
                str(low) if high == low else f"{low} or more" if high is None else f"{low}-{high}"
            )
            self.error(
                "GR0204",
                f"{name}() takes {want} argument{'s' if want != '1' else ''}, got {n}",
                node.span,
            )
            return Const(None, ANY)
        if name == "exists":
            target = self.check(node.args[0])
            if not isinstance(target, FactRef):
                self.error("GR0212", "exists() takes a fact path, e.g. exists(tool.args.cmd)",
                           node.args[0].span)  # fmt: skip
            return Op("not_null", (target,), BOOL)
        args = tuple(self.check(a) for a in node.args)
        result = sig[2](self, node, args)
        return Op(name, args, result)


def _check_sized(c: ExprChecker, node: ast.Call, args: tuple[IR, ...]) -> Type:
    if args[0].type.kind not in ("str", "list", "map", "any"):
        c.error("GR0212", f"len() needs a string, list or map, found {args[0].type}",
                node.args[0].span)  # fmt: skip
    return INT


def _check_text(c: ExprChecker, node: ast.Call, args: tuple[IR, ...]) -> Type:
    if not (args[0].type == STR or args[0].type.is_any):
        c.error("GR0212", f"{node.func.name}() needs a string, found {args[0].type}",
                node.args[0].span)  # fmt: skip
    return STR


def _check_any_to_text(c: ExprChecker, node: ast.Call, args: tuple[IR, ...]) -> Type:
    return STR


def _check_tokens(c: ExprChecker, node: ast.Call, args: tuple[IR, ...]) -> Type:
    if args[0].type.kind not in ("str", "list", "any"):
        c.error("GR0212", f"tokens() needs text, found {args[0].type}", node.args[0].span)
    return INT


def _check_minmax(c: ExprChecker, node: ast.Call, args: tuple[IR, ...]) -> Type:
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


def _check_abs(c: ExprChecker, node: ast.Call, args: tuple[IR, ...]) -> Type:
    t = args[0].type
    if not (t.is_number or t.is_any):
        c.error("GR0212", f"abs() needs a number, found {t}", node.args[0].span)
    return t


# name -> (min args, max args or None, result-type checker). `exists` is special-cased.
BUILTINS: dict[str, tuple[int, int | None, Callable[[ExprChecker, ast.Call, tuple[IR, ...]], Type]]]
BUILTINS = {
    "len": (1, 1, _check_sized),
    "lower": (1, 1, _check_text),
    "normalize": (1, 1, _check_text),
    "basename": (1, 1, _check_text),
    "upper": (1, 1, _check_text),
    "trim": (1, 1, _check_text),
    "text": (1, 1, _check_any_to_text),
    "tokens": (1, 1, _check_tokens),
    "min": (1, None, _check_minmax),
    "max": (1, None, _check_minmax),
    "abs": (1, 1, _check_abs),
    "exists": (1, 1, lambda c, n, a: BOOL),
}


def resolve_fact(
    hook: HookSpec, path: tuple[PathKey, ...]
) -> tuple[FactSpec, tuple[PathKey, ...]] | None:
    """Longest dotted prefix of `path` that is a fact of `hook`, and the keys after it."""
    for cut in range(len(path), 0, -1):
        head = path[:cut]
        if not all(isinstance(k, str) for k in head):
            continue
        spec = hook.fact(".".join(str(k) for k in head))
        if spec is not None:
            return spec, path[cut:]
    return None


def descend(t: Type, keys: tuple[PathKey, ...]) -> Type | None:
    """Type of `value[k1][k2]...` for a value of type t; None when it cannot have keys."""
    for key in keys:
        if t.is_any or t.kind == "map":
            t = ANY
        elif t.kind == "list" and isinstance(key, int):
            t = t.elem or ANY
        else:
            return None
    return t


def _index_const(value: object, key: PathKey) -> object:
    try:
        if isinstance(value, tuple) and isinstance(key, int):
            return value[key]
    except IndexError:
        return None
    return None


def _null_literal(ir: IR) -> bool:
    return isinstance(ir, Const) and ir.type == NULL


def _membership_ok(item: Type, container: Type) -> bool:
    if container.is_any:
        return True
    if container.kind == "list":
        return comparable(item, container.elem or ANY)
    if container.kind in ("str", "map"):
        return item == STR or item.is_any
    return False


def _mismatch_hint(lt: Type, rt: Type) -> str | None:
    if STR in (lt, rt) and (lt.is_number or rt.is_number):
        return "compare a number with a number: drop the quotes around the number"
    if BOOL in (lt, rt) and (lt.is_number or rt.is_number):
        return "true and false are not numbers here"
    return None


def _facts_hint(hook: HookSpec) -> str:
    order = {"normalized": 0, "context": 1, "field": 2}
    names = sorted(hook.facts, key=lambda n: (order[hook.facts[n].kind], n))
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"facts on {hook.name}: {shown} (see `guardrails hooks {hook.name}`)"
