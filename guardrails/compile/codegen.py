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
        self.constants: dict[str, Any] = {}
        self._const_ids: dict[int, str] = {}
        self._temps = 0
        self.loops = CodeBuffer()  # the quantifiers' loop functions
        self._loops: list[str] = []
        self._bound: list[str] = []  # elements of the quantifiers being emitted

    # ---- identifiers and constants ----

    def hoist(self, value: object) -> str:
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
        name = self.function_name(rule.index)
        mark = len(self._loops)
        values = [
            self.emit(a.value) for a in rule.actions if isinstance(a, ir.SetAction | ir.MessageEdit)
        ]
        values += [
            self.reason(a.template) for a in rule.actions if isinstance(a, Block) and a.template
        ]
        self.function(
            name, rule.condition, values, f"# rule {rule.id!r} at {rule.location!r}", mark
        )
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
                parts += [repr(literal), self.emit(part)]  # type: ignore[arg-type]
                literal = ""
        parts.append(repr(literal))
        return f"{BUILTINS['reason'].export}(({', '.join(parts)},))"

    # ---- expressions ----

    def emit(self, node: ir.IR) -> str:
        method: Callable[[Any], str] | None = getattr(self, f"emit_{type(node).__name__}", None)
        if method is None:
            raise NotImplementedError(f"no emitter for {type(node).__name__}")
        return method(node)

    def emit_Const(self, node: ir.Const) -> str:
        value = node.value
        if value is None or isinstance(value, bool | int | str):
            return repr(value)
        if isinstance(value, float) and math.isfinite(value):
            return repr(value)
        return self.hoist(value)

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
        try:
            body = self.emit(node.body)
        finally:
            self._bound.pop()
        params = ", ".join(["f", "c", "_items", *outer])
        loop = _LOOPS[node.kind].format(var=var, body=body, kind=node.kind)
        self.loops.line(f"def {name}({params}):")
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
    rules: tuple[ir.CheckedRule, ...], states: tuple[ir.CheckedState, ...] = ()
) -> tuple[str, dict[str, Any]]:
    """Source of a module defining one function per rule, and its hoisted constants."""
    gen = Generator()
    gen.buf.line("# generated by guardrails; one function per rule: (facts, call cache) -> ")
    gen.buf.line("# None when the rule does not fire, else its `set` values, then rendered reasons")
    for rule in rules:
        gen.rule(rule)
    for index, state in enumerate(states):
        gen.state(index, state)
    return gen.buf.source() + gen.loops.source(), gen.constants
