"""Checked rules -> Python source. One function per rule; no user text outside repr().

Every IR class has an `emit_<Class>` method and every operator an entry in
`check/builtins.py` (its runtime function's name and any inline fast path); a missing
one raises. Identifiers are allocated here (`_r{i}`, `_k{n}`, a quantifier's
element `_e{n}`), never derived from rule names, and every user value enters the source
through `repr()` or as a hoisted constant, so a rule cannot inject code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..check import ir
from ..check.builtins import BUILTINS
from ..runtime.hostfn import PREFIX as HOST_PREFIX
from ..runtime.program import Block
from ..runtime.quantifiers import VISITS
from . import fastpath
from .provenance import Path, fact_paths, widened

# IR operator -> the runtime function generated code calls (see runtime.EXPORTS)
_CALLS = BUILTINS.exports
_COMPARE_FAMILIES = frozenset({"compare", "method", "membership", "contains"})


class CodeBuffer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._indent = 0

    def line(self, text: str) -> None:
        self.lines.append("    " * self._indent + text)

    def indent(self) -> None:
        self._indent += 1

    def outdent(self) -> None:
        self._indent -= 1

    def source(self) -> str:
        return "\n".join(self.lines) + "\n"


class Generator:
    def __init__(self) -> None:
        self.buf = CodeBuffer()
        self.copies: tuple[tuple[Path, frozenset[Path]], ...] = ()  # provenance.copies
        self.constants: dict[str, Any] = {}
        self._const_ids: dict[int, str] = {}
        self._temps = 0
        self.loops = CodeBuffer()  # the quantifiers' loop functions
        self._loops: list[str] = []
        self._bound: list[str] = []  # elements of the quantifiers being emitted
        # a rule function's literals while it is emitted (`lit`): their parameter names
        # by value, and the values in parameter order
        self._params: dict[object, str] | None = None
        self._values: list[object] = []
        # rule functions by shape: the body with its literals as parameters -> the
        # shared function's name; and each rule's (shared function, literals)
        self._shapes: dict[str, str] = {}
        self.bindings: dict[int, tuple[str, tuple[object, ...]]] = {}

    # ---- identifiers and constants ----

    def lit(self, value: object) -> str:
        """A literal of the rule being emitted: a parameter of its function, so rules
        that differ only in literals share one compiled function (`rule`); elsewhere
        its `repr` (scalars) or a hoisted constant."""
        if self._params is None:
            simple = value is None or isinstance(value, bool | int | str)
            if simple or (isinstance(value, float) and math.isfinite(value)):
                return repr(value)
            return self.hoist(value)
        simple = value is None or isinstance(value, bool | int | float | str)
        key = (type(value), repr(value)) if simple else id(value)
        name = self._params.get(key)
        if name is None:
            name = self._params[key] = f"_a{len(self._values)}"
            self._values.append(value)
        return name

    def hoist(self, value: object) -> str:
        if self._params is not None:
            return self.lit(value)
        key = id(value)
        name = self._const_ids.get(key)
        if name is None:
            name = f"_k{len(self.constants)}"
            self.constants[name] = value
            self._const_ids[key] = name
        return name

    def temp(self) -> str:
        """A fresh local for the walrus temporaries of the fast paths."""
        self._temps += 1
        return f"_v{self._temps}"

    @staticmethod
    def function_name(index: int) -> str:
        return f"_r{index}"

    @staticmethod
    def local_name(var: int) -> str:
        return f"_e{var}"

    @staticmethod
    def record_name(index: int) -> str:
        return f"_u{index}"

    @staticmethod
    def key_name(state: int, use: int) -> str:
        return f"_s{state}_{use}"

    @staticmethod
    def value_name(state: int, use: int) -> str:
        return f"_w{state}_{use}"

    # ---- rules ----

    def rule(self, rule: ir.CheckedRule) -> str:
        """The rule's function, with its literals as parameters (`lit`): a rule whose
        body is that of an earlier one binds that function to its own literals
        instead of adding code (`bindings`), so 10,000 rules written from one
        template cost one `compile()` of one function, not 10,000."""
        mark = len(self._loops)
        outer, temps = self.buf, self._temps
        self.buf, self._temps, self._params, self._values = CodeBuffer(), 0, {}, []
        try:
            values = [
                self.emit(a.value)
                for a in rule.actions
                if isinstance(a, ir.SetAction | ir.MessageEdit)
            ]
            values += [
                self.reason(a.template) for a in rule.actions if isinstance(a, Block) and a.template
            ]
            self.function("_", rule.condition, values, "", mark)
            body, literals = self.buf.lines[1:], tuple(self._values)
        finally:
            self.buf, self._temps, self._params = outer, temps, None
        key = "\n".join(body)
        name = self._shapes.get(key)
        if name is None:
            name = self._shapes[key] = f"_p{len(self._shapes)}"
            params = "".join(f", _a{i}=None" for i in range(len(literals)))
            self.buf.line(f"# the shape of rule {rule.id!r} at {rule.location!r}")
            self.buf.line(f"def {name}(f, c{params}):")
            self.buf.lines.extend(body)
        self.bindings[rule.index] = (name, literals)
        self.buf.line(f"# {self.function_name(rule.index)} = {name}{_shown(literals)}")
        if any(isinstance(a, ir.Record) for a in rule.actions):
            self.record(rule)
        return name

    def record(self, rule: ir.CheckedRule) -> None:
        """The rule's state updates: None when it does not fire, else one amount per
        `add`/`track` (None for a track), worked out before any rule runs."""
        mark = len(self._loops)
        amounts = [
            "None" if a.amount is None else self.emit(a.amount)
            for a in rule.actions
            if isinstance(a, ir.Record)
        ]
        self.function(self.record_name(rule.index), rule.condition, amounts, "", mark)

    def state(self, index: int, state: ir.CheckedState) -> None:
        """A state's key (and a streak's value) on each hook where it is used."""
        values = dict(state.values)
        for use, (hook, keys) in enumerate(state.keys):
            self.buf.line(f"# state {state.name!r} on {hook!r}")
            mark = len(self._loops)
            keyed = [self.emit(k) for k in keys]
            self.function(self.key_name(index, use), None, keyed, "", mark)
            if hook in values:
                mark = len(self._loops)
                value = [self.emit(values[hook])]
                self.function(self.value_name(index, use), None, value, "", mark)

    def function(
        self,
        name: str,
        condition: ir.IR | None,
        values: list[str],
        comment: str = "",
        mark: int | None = None,
    ) -> None:
        """`def name(f, c)`: None unless `condition` holds, else the tuple of `values`.
        `mark`: the loop count before `values` were emitted; a function that calls
        a quantifier's loop starts its count of visited elements afresh (MAX_VISITS is
        per rule, as `--explain` counts it)."""
        mark = len(self._loops) if mark is None else mark
        test = self.emit(condition) if condition is not None else None
        self.buf.line(f"def {name}(f, c):")
        self.buf.indent()
        if comment:
            self.buf.line(comment)
        if len(self._loops) > mark:
            self.buf.line(f"c[{VISITS!r}] = 0")
        if test is not None:
            self.buf.line(f"if not {test}:")
            self.buf.indent()
            self.buf.line("return None")
            self.buf.outdent()
        self.buf.line("return (" + "".join(f"{v}, " for v in values) + ")")
        self.buf.outdent()
        self.buf.line("")

    def reason(self, template: tuple[object, ...]) -> str:
        """The rendered reason, built only when the rule fires: literals (through
        `repr`) at even positions, the facts' values between them."""
        parts: list[str] = []
        literal = ""
        for part in template:
            if isinstance(part, str):
                literal += part
            else:
                parts += [self.lit(literal), self.emit(part)]  # type: ignore[arg-type]
                literal = ""
        parts.append(self.lit(literal))
        slots = tuple(
            widened(fact_paths(p), self.copies) for p in template if not isinstance(p, str)
        )
        return f"{BUILTINS['reason'].export}(({', '.join(parts)},), {self.lit(slots)})"

    # ---- expressions ----

    def emit(self, node: ir.IR) -> str:
        method: Callable[[Any], str] | None = getattr(self, f"emit_{type(node).__name__}", None)
        if method is None:
            raise NotImplementedError(f"no emitter for {type(node).__name__}")
        return method(node)

    def emit_Const(self, node: ir.Const) -> str:
        return self.lit(node.value)

    def emit_FactRef(self, node: ir.FactRef) -> str:
        head, rest = node.path[0], node.path[1:]
        if node.derived is not None:
            base = fastpath.derived(self, node.derived)
            rest = node.path[len(node.derived.split(".")) :]
        else:
            base = f"f.get({head!r})"
        return fastpath.path(self, base, rest)

    def emit_StateRef(self, node: ir.StateRef) -> str:
        slot = "@" + node.state + (f".{node.field}" if node.field else "")
        return f"c[{slot!r}]"  # filled from the call's state snapshot (runtime/state.py)

    def emit_Local(self, node: ir.Local) -> str:
        return fastpath.path(self, self.local_name(node.var), node.path)

    def emit_Quantified(self, node: ir.Quantified) -> str:
        """A call of a loop function of its own (`_q{n}`), written beside the rules:
        the condition is inlined in a plain `for`, so an element costs no call. The
        enclosing quantifiers' elements are passed in. The semantics are those of
        runtime/quantifiers.py (`_each` checks the list; explain runs those)."""
        name = f"_q{len(self._loops)}"
        self._loops.append(name)
        outer = list(self._bound)
        var = self.local_name(node.var)
        self._bound.append(var)
        params, self._params = self._params, None  # the loop has no rule's parameters
        try:
            body = self.emit(node.body)
        finally:
            self._bound.pop()
            self._params = params
        loop = _LOOPS[node.kind].format(var=var, body=body, kind=node.kind)
        self.loops.line(f"def {name}({', '.join(['f', 'c', '_items', *outer])}):")
        self.loops.lines.extend("    " + line for line in loop.splitlines())
        self.loops.line("")
        return f"{name}({', '.join(['f', 'c', self.emit(node.items), *outer])})"

    def emit_ListOf(self, node: ir.ListOf) -> str:
        return "(" + "".join(f"{self.emit(i)}, " for i in node.items) + ")"

    def emit_Op(self, node: ir.Op) -> str:
        op = node.op
        if op in ("and", "or", "not"):
            args = [self.emit(a) for a in node.args]
            return f"(not {args[0]})" if op == "not" else f"({args[0]} {op} {args[1]})"
        if op.startswith(HOST_PREFIX):  # a host function, bound per load: `_h_NAME(c, ...)`
            name = op[len(HOST_PREFIX) :]
            assert name.isidentifier()  # checked when the function was registered
            return f"_h_{name}(c{''.join(f', {self.emit(a)}' for a in node.args)})"
        entry = BUILTINS.get(op)
        if entry is None:
            raise NotImplementedError(f"no emitter for operator {op!r}")
        inline = entry.inline
        if inline is not None:
            if inline.family in _COMPARE_FAMILIES:
                fast = fastpath.compare(self, node, entry)
                if fast is not None:
                    return fast
            elif inline.family == "truth":
                return fastpath.truth(self, node, entry)
            elif not any(isinstance(a, ir.Const) for a in node.args):
                # (`1 is None` is a SyntaxWarning, an error under `python -W error`)
                return inline.python.format(*(self.emit(a) for a in node.args))
        return f"{entry.export}({', '.join(self.emit(a) for a in node.args)})"


def _shown(literals: tuple[object, ...]) -> str:
    """A rule's literals for the comment that binds it (a `repr` has no newline)."""
    shown = ", ".join(repr(v) if len(repr(v)) <= 60 else repr(v)[:57] + "..." for v in literals)
    return f"({shown})"


# a quantifier's loop, by kind (null and non-lists: `_each`, runtime/quantifiers.py)
_LOOPS = {
    "any": """_vals = _each(_items, {kind!r}, c)
if _vals is None:
    return False
for {var} in _vals:
    if {body}:
        return True
return False""",
    "all": """_vals = _each(_items, {kind!r}, c)
if _vals is None:
    return False
for {var} in _vals:
    if not {body}:
        return False
return True""",
    "count": """_vals = _each(_items, {kind!r}, c)
if _vals is None:
    return None
_n = 0
for {var} in _vals:
    if {body}:
        _n += 1
return _n""",
    "filter": """_vals = _each(_items, {kind!r}, c)
if _vals is None:
    return None
_kept = []
for {var} in _vals:
    if {body}:
        _kept.append({var})
return tuple(_kept)""",
}


def generate(
    rules: tuple[ir.CheckedRule, ...],
    states: tuple[ir.CheckedState, ...],
    written: tuple[tuple[Path, frozenset[Path]], ...],
) -> tuple[str, dict[str, Any], dict[int, tuple[str, tuple[object, ...]]]]:
    """Source of a module defining one function per rule shape, its hoisted constants,
    and each rule's shape and literals (`Generator.rule`). `written`: the ruleset's
    `provenance.copies`, which reasons are rendered with."""
    gen = Generator()
    gen.copies = written
    gen.buf.line("# generated by guardrails; one function per rule shape, bound to each rule's")
    gen.buf.line("# literals: (facts, call cache) -> None when the rule does not fire, else")
    gen.buf.line("# its `set` values, then rendered reasons")
    for rule in rules:
        gen.rule(rule)
    for index, state in enumerate(states):
        gen.state(index, state)
    return gen.buf.source() + gen.loops.source(), gen.constants, gen.bindings
