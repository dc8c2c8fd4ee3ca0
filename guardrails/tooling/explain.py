"""`guardrails eval --explain`: which sub-conditions held, and the fact values they saw.

Explanation re-evaluates a rule's checked condition with an interpreter over the IR
that calls the very functions the compiled code calls (the load's runtime namespace,
found through each operator's entry in `check/builtins.py`), recording each
sub-expression's value; there is no second operator table to drift. It is for people,
not for the hot path: the verdict shown is always the compiled engine's; the
explanation replays the facts each rule saw (transforms that ran before it included).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..check import ir
from ..check.builtins import BUILTINS
from ..compile.loader import runtime_namespace
from ..runtime import ops, quantifiers
from ..runtime.changes import apply_actions
from ..runtime.facts import DERIVED
from ..runtime.hostfn import PREFIX as HOST_PREFIX
from ..runtime.program import EditMessages, RuleProgram
from ..runtime.quoting import described
from ..runtime.verdict import Verdict

_SHOWN = 60


@dataclass
class Node:
    text: str
    value: Any = None
    error: str | None = None
    evaluated: bool = True
    children: list[Node] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # fact path -> value seen


def show(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=lambda o: f"<{type(o).__name__}>")
    except ValueError:
        text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def source(node: ir.IR) -> str:
    """A readable rendering of a checked expression (lets appear as their values)."""
    if isinstance(node, ir.Const):
        value = node.value
        if isinstance(value, tuple) and value and hasattr(value[0], "pattern"):
            shown = "[" + ", ".join(f"/{p.pattern}/" for p in value) + "]"
            if len(shown) > _SHOWN:
                shown = f"[/{value[0].pattern[:_SHOWN]}/, ... {len(value)} patterns]"
            return shown
        if hasattr(value, "pattern"):
            return f"/{value.pattern}/"
        return show(list(value) if isinstance(value, tuple) else value)
    if isinstance(node, ir.FactRef):
        return _dotted(node.path)
    if isinstance(node, ir.ListOf):
        return "[" + ", ".join(source(i) for i in node.items) + "]"
    if isinstance(node, ir.StateRef):
        return node.state + (f".{node.field}" if node.field else "")
    if isinstance(node, ir.Local):
        return _dotted((node.name, *node.path))
    if isinstance(node, ir.Quantified):
        head = f"{node.name} in {source(node.items)}: {source(node.body)}"
        return f"{node.kind} {head}" if node.kind in ("any", "all") else f"{node.kind}({head})"
    op, args = node.op, [source(a) for a in node.args]
    if op in ("and", "or"):
        return f"({args[0]} {op} {args[1]})"
    if op == "not":
        return f"not {args[0]}"
    if op.startswith(HOST_PREFIX):
        return f"{op[len(HOST_PREFIX) :]}({', '.join(args)})"
    entry = BUILTINS[op]
    field = node.args[1] if op == "get" else None
    if isinstance(field, ir.Const) and isinstance(field.value, str) and field.value.isidentifier():
        return f"{args[0]}.{field.value}"  # a finding's field, `f.score`
    if entry.render is not None:
        return entry.render.format(*args)
    if entry.kind == "operator":
        return f"{args[0]} {op} {args[1]}"
    return f"{op}({', '.join(args)})"


def _dotted(path: tuple[ir.PathKey, ...]) -> str:
    out = str(path[0])
    for key in path[1:]:
        out += f".{key}" if isinstance(key, str) and key.isidentifier() else f"[{key!r}]"
    return out


class Interpreter:
    def __init__(
        self,
        facts: Mapping[str, Any],
        namespace: Mapping[str, Any],
        state: Mapping[str, Any] | None = None,
    ) -> None:
        self.facts = dict(facts)
        self.namespace = namespace
        self.cache: dict[str, Any] = dict(state or {})  # a call's state snapshot, by slot
        self.env: dict[int, Any] = {}  # the elements quantifiers are looking at

    def fact(self, node: ir.FactRef) -> Any:
        if node.derived is not None:
            base = self.namespace[DERIVED[node.derived].binding](self.facts, self.cache)
            return ops.get_path(base, node.path[1:])
        return ops.get_path(self.facts.get(str(node.path[0])), node.path[1:])

    def value(self, node: ir.IR, seen: dict[str, Any]) -> Any:
        if isinstance(node, ir.Const):
            return node.value
        if isinstance(node, ir.FactRef):
            value = self.fact(node)
            seen[_dotted(node.path)] = value
            return value
        if isinstance(node, ir.ListOf):
            return tuple(self.value(i, seen) for i in node.items)
        if isinstance(node, ir.StateRef):
            name = source(node)
            value = self.cache.get("@" + name)
            seen[name] = value
            return value
        if isinstance(node, ir.Local):
            return ops.get_path(self.env[node.var], node.path)
        if isinstance(node, ir.Quantified):
            return self.quantified(node, seen)
        if node.op == "and":
            return self.value(node.args[0], seen) and self.value(node.args[1], seen)
        if node.op == "or":
            return self.value(node.args[0], seen) or self.value(node.args[1], seen)
        if node.op == "not":
            return not self.value(node.args[0], seen)
        args = [self.value(a, seen) for a in node.args]
        if node.op.startswith(HOST_PREFIX):  # called again (its own cache), under its timeout
            return self.namespace["_h_" + node.op[len(HOST_PREFIX) :]](self.cache, *args)
        return self.namespace[BUILTINS.exports[node.op]](*args)

    def quantified(self, node: ir.Quantified, seen: dict[str, Any]) -> Any:
        """The runtime's own loop; the element that decided `any`/`all` is shown."""
        decider: list[int] = []

        def test(element: Any) -> bool:
            self.env[node.var] = element
            held = bool(self.value(node.body, {}))
            if held == (node.kind == "any") and not decider:
                decider.append(position[0])
            position[0] += 1
            return held

        position = [0]
        items = self.value(node.items, seen)
        quantifiers.each(items, node.kind, self.cache)  # the rule's MAX_VISITS, as compiled
        result = self.namespace[BUILTINS.exports[node.kind]](items, test)
        if decider and node.kind in ("any", "all"):
            which = "matched" if node.kind == "any" else "failed"
            seen[f"{node.name} ({which}: element {decider[0]})"] = items[decider[0]]
        return result

    def explain(self, node: ir.IR) -> Node:
        """A tree: boolean connectives are split, every other test is a leaf."""
        if isinstance(node, ir.Op) and node.op in ("and", "or"):
            out = Node(node.op)
            left = self.explain(node.args[0])
            out.children.append(left)
            short = left.error is None and bool(left.value) == (node.op == "or")
            if short:
                out.children.append(Node(source(node.args[1]), evaluated=False))
                out.value = left.value
                return out
            right = self.explain(node.args[1])
            out.children.append(right)
            out.error = left.error or right.error
            out.value = (
                bool(left.value) and bool(right.value) if node.op == "and" else bool(right.value)
            )
            return out
        if isinstance(node, ir.Op) and node.op == "not":
            inner = self.explain(node.args[0])
            return Node("not", None if inner.error else not inner.value, inner.error, True, [inner])
        leaf = Node(source(node))
        try:
            leaf.value = self.value(node, leaf.facts)
        except Exception as err:
            leaf.error = str(described(err, ()))
        return leaf


def _render(node: Node, indent: str, lines: list[str]) -> None:
    if not node.evaluated:
        state = "not evaluated"
    elif node.error:
        state = f"error: {node.error}"
    else:
        state = "true" if node.value else "false"
    if node.children and node.text in ("and", "or", "not"):
        lines.append(f"{indent}{node.text}: {state}")
        for child in node.children:
            _render(child, indent + "  ", lines)
        return
    lines.append(f"{indent}{node.text}  -> {state}")
    for path, value in node.facts.items():
        lines.append(f"{indent}    {path} = {show(value)}")


def _breaker(policy: Any, prog: RuleProgram) -> str | None:
    """The rule's circuit breaker as written, and its state now (`breaker off` and no
    breaker say nothing)."""
    board = getattr(policy, "breakers", None)
    found = board.for_rule(prog.id, prog.digest, prog.breaker) if board is not None else None
    if found is None:
        return None
    source = " (the load option)" if prog.breaker is None else ""
    return f"{found.config.describe()}{source}: {found.state.replace('_', '-')}"


@dataclass
class Step:
    """One rule of a hook call, as `walk` saw it."""

    prog: RuleProgram
    rule: ir.CheckedRule
    verdict: str  # the compiled engine's verdict (`pass` when it has no result)
    code: str | None
    tree: Node | None = None  # its condition, re-evaluated (None: none, or not evaluated)
    skipped: str | None = None  # why it was not evaluated
    breaker: str | None = None
    edits: list[str] = field(default_factory=list)  # what its message edits wrote


def walk(
    policy: Any,
    hook: str,
    facts: Mapping[str, Any],
    verdict: Verdict,
    read: Mapping[str, Any] | None = None,
) -> Iterator[Step]:
    """Every rule of `hook` on `facts`, in evaluation order, with its condition
    re-evaluated on the facts it saw (the changes of the transforms before it applied);
    `read` is what the call's rules read of their states (a snapshot's values, by slot)."""
    checked: Mapping[str, ir.CheckedRule] = policy.checked_rules
    options = policy.options
    namespace = runtime_namespace(options.tokenizer, options.max_match_chars, options.functions)
    work: dict[str, Any] = dict(facts)
    results = {r.rule_id: r for r in verdict.rules}
    for prog in policy.programs(hook):
        result = results.get(prog.id)
        step = Step(prog, checked[prog.id], result.verdict if result else "pass",
                    result.code if result else None)  # fmt: skip
        if step.verdict == "skipped":
            step.skipped = "an earlier rule blocked the call"
            yield step
            continue
        step.breaker = _breaker(policy, prog)
        if result is not None and result.error == "circuit open":
            step.skipped = result.reason or "circuit open"
            yield step
            continue
        if step.rule.condition is not None:
            step.tree = Interpreter(work, namespace, read).explain(step.rule.condition)
        if step.verdict == "modify":
            try:
                out = prog.fn(work, {})
                if out is not None:
                    step.edits = _message_edits(prog, out)
                    work, _ = apply_actions(prog, work, out)
            except Exception:  # the verdict already says what happened
                pass
        yield step


def explain(
    policy: Any,
    hook: str,
    facts: Mapping[str, Any],
    verdict: Verdict,
    read: Mapping[str, Any] | None = None,
) -> str:
    """Text explaining every rule of `hook` on `facts`, in evaluation order; `read`
    is what the call's rules read of their states (a snapshot's values, by slot)."""
    lines: list[str] = []
    for step in walk(policy, hook, facts, verdict, read):
        prog = step.prog
        code = f" [{step.code}]" if step.code else ""
        lines.append(
            f"rule {prog.id} ({prog.location}, {prog.mode}@{prog.priority}): {step.verdict}{code}"
        )
        if step.verdict == "skipped":
            lines.append(f"  (not evaluated: {step.skipped})")
            continue
        if step.breaker is not None:
            lines.append(f"  {step.breaker}")
        if step.skipped is not None:
            lines.append(f"  (not evaluated: {step.skipped})")
            continue
        if step.tree is None:
            lines.append("  (no condition: always fires)")
        else:
            _render(step.tree, "  ", lines)
        lines.extend(step.edits)
    return "\n".join(lines) if lines else f"(no rules on {hook})"


def _message_edits(prog: RuleProgram, out: tuple[Any, ...]) -> list[str]:
    """What a rule's `append`/`prepend`/`replace` wrote, as the rule rendered it."""
    lines = []
    for action in prog.actions:
        if isinstance(action, EditMessages):
            value = out[action.value_index]
            if isinstance(value, tuple):  # a map literal's (role, text)
                value = {"role": value[0], "text": value[1]}
            path = ".".join(map(str, action.path))
            if action.kind == "replace":
                lines.append(f"  replace the text of {path} its patterns match with {show(value)}")
            else:
                lines.append(f"  {action.kind} {show(value)} to {path}")
    return lines
