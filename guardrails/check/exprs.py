"""Expression typing and resolution: AST expression -> typed IR, against one hook.

Every node class has a `check_<Class>` method; a missing one raises (never a silent
walk). Operators and calls are typed by their entry in `check/builtins.py`, so this
module knows names, paths and patterns, and no operator by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ..diagnostics import Diagnostic, Severity
from ..runtime.hostfn import HostFunction
from ..runtime.ops import FrozenMap, Regex
from ..source import Span
from ..syntax import ast
from .builtins import BUILTINS as _REGISTRY
from .builtins import Builtin
from .catalog import FactSpec, HookSpec
from .hostcalls import check_host_call
from .ir import IR, Const, FactRef, ListOf, Op, PathKey
from .names import LetTable, literal_const
from .quantifiers import check_quantified, local
from .regexes import compile_regex, is_regex
from .types import ANY, BOOL, FINDING_FIELDS, INT, MAP, REGEX, STR, Type, field_type, join, list_of
from .unknown import function_hint, report_no_field, report_unknown

if TYPE_CHECKING:
    from .states import StateTable


class ExprChecker:
    def __init__(
        self,
        hook: HookSpec,
        lets: LetTable,
        diags: list[Diagnostic],
        elsewhere: Callable[[str], list[str]] | None = None,
        states: StateTable | None = None,
        no_state: str | None = None,
        functions: Mapping[str, HostFunction] | None = None,
    ) -> None:
        self.hook = hook
        self.elsewhere = elsewhere or (lambda _fact: [])
        self.lets = lets
        self.diags = diags
        self.states = states
        # what may not read state here ("a state's key"), or None
        self.no_state = no_state
        self.state_reads: dict[str, Span] = {}  # state -> where it is first read
        self.functions = functions or {}  # this load's host functions
        self.host_calls: list[Span] = []  # where the expressions call one
        # names bound by the quantifiers around the expression being checked:
        # name -> (variable number, element type, used?)
        self._scope: dict[str, list[tuple[int, Type, bool]]] = {}
        self._vars = 0

    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(code, Severity.ERROR, message, span, hint))

    def warn(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(code, Severity.WARNING, message, span, hint))

    # ---- names bound by quantifiers (check/quantifiers.py) ----

    def bind(self, name: str, elem: Type) -> int:
        self._vars += 1
        self._scope.setdefault(name, []).append((self._vars, elem, False))
        return self._vars

    def unbind(self, name: str) -> bool:
        """Drop the innermost binding of `name`; was it read?"""
        stack = self._scope[name]
        used = stack.pop()[2]
        if not stack:
            del self._scope[name]
        return used

    def bound(self, name: str) -> bool:
        return name in self._scope

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

    def check_MapExpr(self, node: ast.MapExpr) -> IR:
        values = [self.check(v) for _, v in node.items]
        consts = [v for v in values if isinstance(v, Const)]
        if len(consts) == len(values):
            pairs = {k: v.value for (k, _), v in zip(node.items, consts, strict=True)}
            return Const(FrozenMap(pairs), MAP)
        self.error(
            "GR0243",
            "a map literal holds constants only",
            node.span,
            hint="bind it with `let`; read it with lookup(map, key, default)",
        )
        return Const(None, ANY)

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
        if isinstance(root, ast.Name) and root.name in self._scope:
            var, elem, _ = self._scope[root.name][-1]
            self._scope[root.name][-1] = (var, elem, True)
            return local(self, root.name, var, elem, keys, node.span)
        if not isinstance(root, ast.Name):
            return self.fields(self.check(root), keys)
        if self.states is not None and root.name in self.states:
            if self.no_state is not None:
                self.error(
                    "GR0253",
                    f"{self.no_state} cannot read state '{root.name}'",
                    node.span,
                    hint=_NO_STATE_HINT,
                )
                return Const(None, ANY)
            self.state_reads.setdefault(root.name, node.span)
            return self.states.ref(root.name, keys, node.span)
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
            report_unknown(self, root, path, node.span)
            return Const(None, ANY)
        spec, rest = resolved
        ftype = descend(spec.type, rest)
        if ftype is None:
            report_no_field(self, spec.path, spec.type, rest[0], node.span)
            return Const(None, ANY)
        return FactRef(path, ftype, spec.path if spec.derived else None)

    def fields(self, base: IR, keys: list[tuple[PathKey, Span]]) -> IR:
        """`base.a[0]` on a computed value: typed where the value's type knows its
        fields (a finding), `any` elsewhere."""
        for key, span in keys:
            ftype = field_type(base.type, key)
            if ftype is None:
                hint = "its fields are " + ", ".join(FINDING_FIELDS)
                self.error("GR0276", f"a finding has no field {key!r}", span, hint=hint)
                return Const(None, ANY)
            base = Op("get", (base, Const(key, STR if isinstance(key, str) else INT)), ftype)
        return base

    # ---- operators and calls: typed by their registry entry ----

    def check_Unary(self, node: ast.Unary) -> IR:
        if node.op == "not":
            return Op("not", (self.condition(node.operand),), BOOL)
        return self._apply(OPERATORS["neg"], node, (node.operand,))

    def check_BoolOp(self, node: ast.BoolOp) -> IR:
        return Op(node.op, (self.condition(node.left), self.condition(node.right)), BOOL)

    def check_BinOp(self, node: ast.BinOp) -> IR:
        return self._apply(OPERATORS[node.op], node, (node.left, node.right))

    def check_Compare(self, node: ast.Compare) -> IR:
        entry = OPERATORS.get(node.op)
        if entry is None:
            raise NotImplementedError(node.op)
        return self._apply(entry, node, (node.left, node.right))

    def _apply(self, entry: Builtin, node: ast.Expr, operands: tuple[ast.Expr, ...]) -> IR:
        assert entry.check is not None
        return entry.check(self, entry.name, node, operands)

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

    def check_Quantified(self, node: ast.Quantified) -> IR:
        return check_quantified(self, node)

    def check_Call(self, node: ast.Call) -> IR:
        name = node.func.name
        entry = BUILTINS.get(name)
        host = self.functions.get(name) if entry is None else None
        if host is not None:
            self.host_calls.append(node.span)
            return check_host_call(self, host, node, self.no_state)
        if entry is None:
            hint = function_hint(name, [*BUILTINS, *self.functions])
            self.error("GR0203", f"unknown function '{name}'", node.func.span, hint=hint)
            for arg in node.args:
                self.check(arg)
            return Const(None, ANY)
        low, high = entry.arity
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
        return self._apply(entry, node, node.args)


# the functions a call may name (live: a scoped registration shows up at once)
BUILTINS = _REGISTRY.functions
OPERATORS = _REGISTRY.operators


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
        elif t.kind == "finding" and isinstance(key, str) and key in FINDING_FIELDS:
            t = FINDING_FIELDS[key]
        else:
            return None
    return t


_NO_STATE_HINT = (
    "a rule's `add`/`track` is worked out from the call's facts before any rule runs, "
    "and a state's key and value are facts too; read state in another rule"
)


def _index_const(value: object, key: PathKey) -> object:
    if isinstance(value, Mapping) and isinstance(key, str):
        return value.get(key)
    try:
        if isinstance(value, tuple) and isinstance(key, int):
            return value[key]
    except IndexError:
        return None
    return None
