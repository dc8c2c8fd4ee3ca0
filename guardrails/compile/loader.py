"""Generated source -> callables, once per load.

The source is compiled under a `<guardrails:...>` file name registered in `linecache`,
so a traceback through a rule shows the generated line; the namespace is exactly
`runtime.EXPORTS` plus this load's constants and derived-fact bindings, with
`__builtins__` emptied.
"""

from __future__ import annotations

import dataclasses
import hashlib
import linecache
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from ..check import ir
from ..check.builtins import BUILTINS
from ..runtime import EXPORTS
from ..runtime.breaker import Breakers
from ..runtime.facts import DERIVED, Tokenizer, make_bindings
from ..runtime.hostfn import PREFIX as HOST_PREFIX
from ..runtime.hostfn import HostTable
from ..runtime.ops import DEFAULT_MAX_MATCH_CHARS
from ..runtime.program import (
    Assign,
    Block,
    EditMessages,
    Redact,
    RuleFn,
    RuleProgram,
    RuntimeAction,
)
from ..runtime.state import StateSpec
from ..runtime.state_plan import Recording, StatePlan, StateUse
from .codegen import Generator, generate
from .literals import literal_key_of
from .provenance import copies, widened


def _runtime_actions(rule: ir.CheckedRule, max_chars: int) -> tuple[RuntimeAction, ...]:
    """The IR's actions as the engine runs them: a `set` becomes the position of its
    value in the rule function's result, so does a reason with `{fact}` parts, and a
    redact gets the load's text size cap."""
    out: list[RuntimeAction] = []
    value_index = 0
    # the rule function returns the `set` and message values, then the rendered
    # reasons (codegen)
    reason_index = sum(isinstance(a, ir.SetAction | ir.MessageEdit) for a in rule.actions)
    for action in rule.actions:
        if isinstance(action, ir.SetAction):
            out.append(Assign(action.path, value_index))
            value_index += 1
        elif isinstance(action, ir.MessageEdit):
            patterns: Any = action.patterns
            finder: Any = action.finder
            out.append(
                EditMessages(
                    action.kind, action.path, value_index, action.roles, patterns, max_chars,
                    finder,
                )
            )  # fmt: skip
            value_index += 1
        elif isinstance(action, Block) and action.template:
            out.append(dataclasses.replace(action, template=(), reason_index=reason_index))
            reason_index += 1
        elif isinstance(action, Redact) and action.max_chars != max_chars:
            out.append(dataclasses.replace(action, max_chars=max_chars))
        elif isinstance(action, ir.Record):
            continue  # done before the rules run (runtime/state.py)
        else:
            out.append(action)
    return tuple(out)


def _reads(node: ir.IR | None, out: set[str]) -> None:
    if isinstance(node, ir.FactRef):
        root = node.path[0]
        if isinstance(root, str):
            out.add(root)
            if node.derived is not None:
                out.add(DERIVED[node.derived].source)
    elif node is not None:
        for child in ir.children(node):
            _reads(child, out)


def _exprs(rule: ir.CheckedRule) -> Iterator[ir.IR]:
    """Every expression of a rule: its condition, `set` values and `add` amounts, the
    `{...}` parts of its reasons."""
    if rule.condition is not None:
        yield rule.condition
    for action in rule.actions:
        if isinstance(action, ir.SetAction | ir.MessageEdit):
            yield action.value
        elif isinstance(action, ir.Record) and action.amount is not None:
            yield action.amount
        elif isinstance(action, Block):
            yield from (p for p in action.template if not isinstance(p, str))  # type: ignore[misc]


@dataclass(frozen=True)
class _Scan:
    """What one walk over a rule's expressions finds: the top-level facts it reads,
    the states it reads, the host functions it calls."""

    reads: frozenset[str]
    refs: tuple[ir.StateRef, ...]
    calls: frozenset[str]
    paths: tuple[tuple[ir.PathKey, ...], ...] = ()  # each fact path read, whole


def _scan(rule: ir.CheckedRule) -> _Scan:
    reads: set[str] = set()
    refs: list[ir.StateRef] = []
    calls: set[str] = set()
    paths: set[tuple[ir.PathKey, ...]] = set()
    todo = list(_exprs(rule))
    while todo:
        node = todo.pop()
        if isinstance(node, ir.FactRef):
            _reads(node, reads)
            paths.add(tuple(node.path))
            continue
        if isinstance(node, ir.StateRef):
            refs.append(node)
        elif isinstance(node, ir.Op) and node.op.startswith(HOST_PREFIX):
            calls.add(node.op[len(HOST_PREFIX) :])
        todo.extend(ir.children(node))
    ordered = tuple(sorted(paths, key=repr))
    return _Scan(frozenset(reads), tuple(refs), frozenset(calls), ordered)


def reads_of(
    rule: ir.CheckedRule,
    states: Mapping[str, ir.CheckedState],
    scan: _Scan,
) -> frozenset[str]:
    """Top-level facts a rule reads, including facts its writes start from and the
    keys of the states it touches (`states`: every declared state, by name)."""
    out = set(scan.reads)
    for action in rule.actions:
        if isinstance(action, ir.SetAction | Redact | ir.MessageEdit):
            out.add(str(action.path[0]))
    for name in _states_of(rule, scan):
        state = states.get(name)
        for hook, keys in state.keys if state is not None else ():
            if hook in rule.hooks:
                for key in keys:
                    _reads(key, out)
        for hook, value in state.values if state is not None else ():
            if hook in rule.hooks:
                _reads(value, out)
    return frozenset(out)


def _states_of(rule: ir.CheckedRule, scan: _Scan) -> frozenset[str]:
    found = {ref.state for ref in scan.refs}
    return frozenset(found | set(rule.records))


def state_plans(
    ruleset: ir.CheckedRuleset, scans: Sequence[_Scan]
) -> dict[str, dict[str, list[Any]]]:
    """Per hook: every state its rules touch (the generated functions of its key and
    value on that hook, the fields read) and every rule there that records, as data
    (`plans_from` links it). `scans`: each rule's, in order."""
    if not ruleset.states:
        return {}  # no state is declared: none is read or recorded
    specs = {
        s.name: StateSpec(s.name, s.kind, s.every, s.keep, s.limit, s.digest, s.per)
        for s in ruleset.states
    }
    key_fns: dict[tuple[str, str], tuple[str, str | None]] = {}
    for i, state in enumerate(ruleset.states):
        values = dict(state.values)
        for j, (hook, _) in enumerate(state.keys):
            value = Generator.value_name(i, j) if hook in values else None
            key_fns[(state.name, hook)] = (Generator.key_name(i, j), value)
    reads: dict[str, dict[str, set[str]]] = {}
    recordings: dict[str, list[Any]] = {}
    for rule, scan in zip(ruleset.rules, scans, strict=True):
        for hook in rule.hooks:
            for ref in scan.refs:
                reads.setdefault(hook, {}).setdefault(ref.state, set()).add(ref.field)
            if rule.records:
                name = Generator.record_name(rule.index)
                recordings.setdefault(hook, []).append((rule.id, name, rule.records))
    plans: dict[str, dict[str, list[Any]]] = {}
    for hook in set(reads) | set(recordings):
        read = reads.get(hook, {})
        recorded = {s for r in recordings.get(hook, ()) for s in r[2]}
        uses = [
            (specs[name], *key_fns[(name, hook)], name in read,
             tuple(sorted(read.get(name, set()) - {""})))
            for name in sorted(set(read) | recorded)
        ]  # fmt: skip
        plans[hook] = {"uses": uses, "recordings": recordings.get(hook, [])}
    return plans


def plans_from(
    data: Mapping[str, Mapping[str, Sequence[Any]]], namespace: Mapping[str, Any]
) -> dict[str, StatePlan]:
    plans: dict[str, StatePlan] = {}
    for hook, plan in data.items():
        uses = [
            StateUse(spec, namespace[key], namespace[value] if value else None, read,
                     frozenset(fields))
            for spec, key, value, read, fields in plan["uses"]
        ]  # fmt: skip
        recordings = [
            Recording(rule_id, namespace[fn], tuple(states))
            for rule_id, fn, states in plan["recordings"]
        ]
        plans[hook] = StatePlan(uses, recordings)
    return plans


def _leftmost(node: ir.IR | None) -> ir.IR | None:
    while isinstance(node, ir.Op) and node.op == "and":
        node = node.args[0]
    return node


def _index_keys(const: ir.Const) -> frozenset[str | int] | None:
    values = const.value if isinstance(const.value, tuple) else (const.value,)
    if values and all(type(v) in (str, int) for v in values):
        return frozenset(values)
    return None


def index_key_of(
    rule: ir.CheckedRule,
) -> tuple[tuple[ir.PathKey, ...], frozenset[str | int]] | None:
    """`(path, keys)` when the rule's first test is `fact == key` or `fact in [keys]`."""
    first = _leftmost(rule.condition)
    if not isinstance(first, ir.Op) or first.op not in ("==", "in"):
        return None
    left, right = first.args
    if first.op == "==" and isinstance(left, ir.Const):
        left, right = right, left
    if not isinstance(left, ir.FactRef) or left.derived or not isinstance(right, ir.Const):
        return None
    if (first.op == "in") != isinstance(right.value, tuple):
        # `x in "some text"` is a substring test, and `x == ["a"]` compares lists:
        # neither is a lookup of the fact's value among keys
        return None
    keys = _index_keys(right)
    return (left.path, keys) if keys is not None else None


def runtime_namespace(
    tokenizer: Tokenizer | None,
    max_match_chars: int,
    functions: HostTable | None = None,
    breakers: Breakers | None = None,
) -> dict[str, Any]:
    """What generated code sees, and what `--explain` evaluates with: the same
    functions, so an explanation cannot disagree with the verdict it explains."""
    namespace: dict[str, Any] = {"__builtins__": {}}
    namespace.update(EXPORTS)
    namespace.update(make_bindings(tokenizer, max_match_chars))
    for entry in BUILTINS.values():
        if entry.bind is not None:
            namespace[entry.export] = entry.bind(max_match_chars)
    if functions:
        namespace.update(functions.bindings(breakers))
    return namespace


@dataclass(frozen=True)
class Lowered:
    """A checked ruleset as plain data: the generated source, its constants, every
    rule's static data (a `RuleProgram`'s fields but `fn`, plus its function's shape
    and literals) and the state plans. What a load links, and what the ruleset cache
    stores (compile/serial.py), so a cached load links exactly what a cold one does."""

    source: str
    constants: dict[str, Any]
    programs: list[dict[str, Any]]
    plans: dict[str, dict[str, list[Any]]]


def lower(ruleset: ir.CheckedRuleset, max_match_chars: int = DEFAULT_MAX_MATCH_CHARS) -> Lowered:
    written = copies(ruleset.rules)  # what reasons and error messages may show (provenance)
    source, constants, bindings = generate(ruleset.rules, ruleset.states, written)
    states = {s.name: s for s in ruleset.states}
    scans = [_scan(rule) for rule in ruleset.rules]
    programs = [
        {
            "id": rule.id,
            "index": rule.index,
            "description": rule.description,
            "file": rule.span.file.path,
            "line": rule.span.line,
            "column": rule.span.column,
            "hooks": rule.hooks,
            "mode": rule.mode,
            "on_error": rule.on_error,
            "priority": rule.priority,
            "actions": _runtime_actions(rule, max_match_chars),
            "reads": reads_of(rule, states, scan),
            "index_key": index_key_of(rule),
            "literal_key": literal_key_of(rule),
            "states": _states_of(rule, scan),
            "records": rule.records,
            "host_calls": scan.calls,
            "paths": widened(scan.paths, written),
            "breaker": rule.breaker,
            "digest": _digest(rule),
            "shape": bindings[rule.index][0],
            "literals": bindings[rule.index][1],
        }
        for rule, scan in zip(ruleset.rules, scans, strict=True)
    ]
    return Lowered(source, constants, programs, state_plans(ruleset, scans))


def link(
    low: Lowered,
    ruleset_hash: str,
    tokenizer: Tokenizer | None = None,
    max_match_chars: int = DEFAULT_MAX_MATCH_CHARS,
    functions: HostTable | None = None,
    breakers: Breakers | None = None,
) -> tuple[list[RuleProgram], dict[str, StatePlan]]:
    """The programs (in load order) and the state plan of every hook whose rules
    touch state: the source compiled once, each rule bound to its shape."""
    filename = f"<guardrails:{ruleset_hash[:12]}>"
    code = compile(low.source, filename, "exec")
    linecache.cache[filename] = (len(low.source), None, low.source.splitlines(True), filename)
    namespace = runtime_namespace(tokenizer, max_match_chars, functions, breakers)
    namespace.update(low.constants)
    exec(code, namespace)  # the source is ours: user values only enter through repr()
    programs = []
    for data in low.programs:
        fields = dict(data)
        shape, literals = fields.pop("shape"), fields.pop("literals")
        fn = bind(namespace[shape], Generator.function_name(fields["index"]), literals)
        programs.append(RuleProgram(fn=fn, **fields))
    return programs, plans_from(low.plans, namespace)


def bind(shape: Any, name: str, literals: tuple[object, ...]) -> RuleFn:
    """One rule's function: its shape's code with the rule's literals as the defaults
    of the shape's parameters (read as fast as constants: they are locals)."""
    fn = types.FunctionType(shape.__code__, shape.__globals__, name, literals or None)
    fn.__qualname__ = name
    return cast(RuleFn, fn)


def _digest(rule: ir.CheckedRule) -> str:
    """The rule's own text, hashed: what keys its circuit breaker across reloads."""
    text = rule.span.file.text[rule.span.start : rule.span.end]
    return hashlib.sha256(text.encode(errors="surrogatepass")).hexdigest()
