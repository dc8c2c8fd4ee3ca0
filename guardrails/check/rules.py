"""Rule-level checks: hooks, mode, priority, the condition and every action of a rule
(`check/modules.py` runs them over a whole load)."""

from __future__ import annotations

import datetime
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import replace

from ..diagnostics import Diagnostic, Severity
from ..runtime.hostfn import HostFunction
from ..runtime.modes import DEFAULT_MODE, MODE_ALIASES, MODES
from ..runtime.program import Block, Redact
from ..source import Span
from ..syntax import ast
from . import ir
from .breakers import breaker_warnings, check_breaker
from .catalog import Catalog, HookSpec
from .detectors import redaction, redaction_operator
from .exprs import ExprChecker, descend, resolve_fact
from .messages import blocked_edits, check_message_action
from .names import LetTable
from .states import StateTable
from .types import BOOL, FLOAT, INT, Type, assignable

DEFAULT_PRIORITY = 100
DEFAULT_REDACTION = "[REDACTED]"


class RuleChecker:
    def __init__(
        self,
        catalog: Catalog,
        lets: LetTable,
        diags: list[Diagnostic],
        states: StateTable,
        functions: Mapping[str, HostFunction] | None = None,
    ) -> None:
        self.catalog = catalog
        self.lets = lets
        self.diags = diags
        self.states = states
        self.functions = functions
        self.borrowed = False  # a check's result depended on other rules' diagnostics

    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(code, Severity.ERROR, message, span, hint))

    def hooks_with_fact(self, fact: str) -> list[str]:
        return [h.name for h in self.catalog if fact in h.facts]

    def rule_id(self, rule: ast.Rule) -> str:
        if rule.name is not None:
            return rule.name.name
        return f"{rule.span.file.stem}:{rule.span.line}"

    def check(self, rule: ast.Rule, index: int) -> ir.CheckedRule | None:
        before = len(self.diags)
        hooks = self._hooks(rule)
        mode, on_error = self._mode(rule)
        on_error = self._on_error(rule, on_error)
        self._since(rule)
        priority = self._priority(rule)
        self._single(rule.when, "when", "combine the conditions with `and`")
        self._single(rule.unless, "unless", "combine the conditions with `or`")

        condition: ir.IR | None = None
        actions: tuple[ir.Action, ...] = ()
        # Check against every hook the rule names; keep the first hook's IR. Diagnostics
        # that repeat across hooks are reported once.
        for n, hook in enumerate(hooks):
            local: list[Diagnostic] = []
            cond, acts = self._body(rule, hook, mode, local)
            for d in local:
                if d not in self.diags:
                    self.diags.append(d)
                elif d not in self.diags[before:]:
                    self.borrowed = True  # dropped as a repeat of another rule's diagnostic
            if n == 0:
                condition, actions = cond, acts
        breaker = check_breaker(rule, actions, self.diags)
        if any(d.severity is Severity.ERROR for d in self.diags[before:]):
            return None  # a warning (GR0320) keeps the rule
        self.diags.extend(breaker_warnings(rule, on_error, breaker))
        blocked_edits(rule, self.diags)  # a warning: the rule still loads
        return ir.CheckedRule(
            id=self.rule_id(rule),
            index=index,
            description=rule.description,
            hooks=tuple(h.name for h in hooks),
            mode=mode,
            on_error=on_error,
            priority=priority,
            condition=condition,
            actions=actions,
            span=rule.span,
            breaker=breaker,
        )

    def _single(self, clauses: Sequence[object], word: str, hint: str) -> None:
        for extra in clauses[1:]:
            span = extra.span if isinstance(extra, ast.Node) else None
            if span is not None:
                self.error("GR0209", f"a rule takes one `{word}` clause", span, hint)

    def _hooks(self, rule: ast.Rule) -> list[HookSpec]:
        if not rule.hooks:
            self.error(
                "GR0208",
                f"rule '{self.rule_id(rule)}' names no hook",
                rule.name.span if rule.name else rule.span,
                hint="add `on HOOK`, e.g. `on generation_pre_call`",
            )
            return []
        for extra in rule.hooks[1:]:
            self.error(
                "GR0209",
                "a rule takes one `on` clause",
                extra[0].span,
                hint="list several hooks in one clause: `on h1, h2`",
            )
        specs: list[HookSpec] = []
        seen: set[str] = set()
        for ident in rule.hooks[0]:
            spec = self.catalog.get(ident.name)
            if spec is None:
                close = self.catalog.suggest(ident.name)
                self.error(
                    "GR0200",
                    f"unknown hook '{ident.name}'",
                    ident.span,
                    hint=f"did you mean '{close}'?"
                    if close
                    else "run `guardrails hooks` to list hooks, or register a custom hook",
                )
            elif ident.name not in seen:
                seen.add(ident.name)
                specs.append(spec)
        return specs

    def _mode(self, rule: ast.Rule) -> tuple[str, str]:
        for extra in rule.modes[1:]:
            self.error("GR0209", "a rule takes one `mode` clause", extra.span)
        if not rule.modes:
            return DEFAULT_MODE, "fail"
        ident = rule.modes[0]
        if ident.name in MODES:
            return ident.name, "fail"
        if ident.name in MODE_ALIASES:
            return MODE_ALIASES[ident.name]
        known = list(MODES) + list(MODE_ALIASES)
        close = difflib.get_close_matches(ident.name, known, n=1, cutoff=0.6)
        self.error(
            "GR0230",
            f"unknown mode '{ident.name}'",
            ident.span,
            hint=f"did you mean '{close[0]}'?" if close else "modes: " + ", ".join(known),
        )
        return DEFAULT_MODE, "fail"

    def _on_error(self, rule: ast.Rule, default: str) -> str:
        for extra in rule.on_errors[1:]:
            self.error("GR0209", "a rule takes one `on_error` clause", extra.span)
        if not rule.on_errors:
            return default
        ident = rule.on_errors[0]
        if ident.name not in ("fail", "ignore"):
            self.error(
                "GR0235",
                f"unknown on_error '{ident.name}'",
                ident.span,
                hint="on_error is `fail` (an error blocks the call, the default) or `ignore`",
            )
            return default
        return ident.name

    def _since(self, rule: ast.Rule) -> None:
        if rule.since is None:
            return
        text, span = rule.since
        try:
            datetime.date.fromisoformat(text)
        except ValueError:
            self.error("GR0236", f"invalid since date {text!r}", span,
                       hint='write the date the rule went into audit as "YYYY-MM-DD"')  # fmt: skip

    def _priority(self, rule: ast.Rule) -> int:
        for _, span in rule.priorities[1:]:
            self.error("GR0209", "a rule takes one `priority` clause", span)
        return rule.priorities[0][0] if rule.priorities else DEFAULT_PRIORITY

    def _body(
        self, rule: ast.Rule, hook: HookSpec, mode: str, diags: list[Diagnostic]
    ) -> tuple[ir.IR | None, tuple[ir.Action, ...]]:
        exprs = ExprChecker(
            hook, self.lets, diags, self.hooks_with_fact, self.states, functions=self.functions
        )
        parts: list[ir.IR] = []
        if rule.when:
            parts.append(exprs.condition(rule.when[0]))
        if rule.unless:
            parts.append(ir.Op("not", (exprs.condition(rule.unless[0]),), BOOL))
        condition: ir.IR | None = None
        if len(parts) == 2:
            condition = ir.Op("and", (parts[0], parts[1]), BOOL)
        elif parts:
            condition = parts[0]
        actions = tuple(self._action(a, rule, hook, mode, exprs) for a in rule.actions)
        recorded = [a.state for a in actions if isinstance(a, ir.Record)]
        if recorded and exprs.state_reads:
            name, span = next(iter(exprs.state_reads.items()))
            exprs.error(
                "GR0253",
                f"a rule that updates state cannot read state ('{name}')",
                span,
                hint="the update is worked out from the call's facts before any rule runs; "
                "check the state in a rule of its own",
            )
        if recorded and exprs.host_calls:
            exprs.error(
                "GR0265",
                "a rule that updates state cannot call a host function",
                exprs.host_calls[0],
                hint="its update is worked out from the call's facts before any rule runs, "
                "with no time budget for host functions; call it in a rule of its own",
            )
        for name in [*exprs.state_reads, *recorded]:
            self.states.use(name, hook.name, lambda: self._key_checker(hook, diags))
        return condition, actions

    def _key_checker(self, hook: HookSpec, diags: list[Diagnostic]) -> ExprChecker:
        return ExprChecker(
            hook, self.lets, diags, self.hooks_with_fact, self.states, "a state's key or value",
            self.functions,
        )  # fmt: skip

    def _action(
        self, action: ast.Action, rule: ast.Rule, hook: HookSpec, mode: str, exprs: ExprChecker
    ) -> ir.Action:
        rid = self.rule_id(rule)
        if isinstance(action, ast.Block):
            if action.kind == "continue":
                return self._continue(action, hook, mode, rid, exprs)
            if action.kind == "block" and not MODES[mode].can_block:
                exprs.error(
                    "GR0231",
                    f"{_article(mode)} {mode} rule cannot block: cpex ignores its violations",
                    action.span,
                    hint="use mode sequential (or concurrent) to block, audit to record a "
                    "would-block, or `warn`",
                )
            code = action.code.name if action.code else f"GUARDRAIL_{action.kind.upper()}"
            reason = action.reason or (
                f"blocked by rule {rid}" if action.kind == "block" else f"warning from rule {rid}"
            )
            return _templated(Block(action.kind, reason, code), action, exprs)
        if isinstance(action, ast.AddAction):
            amount = exprs.check(action.amount)
            if not (amount.type.is_any or amount.type in (INT, FLOAT)):
                exprs.error(
                    "GR0258",
                    f"`add` needs a number, found {amount.type}",
                    action.amount.span,
                    hint="e.g. `add 1 to calls`, `add tokens to used`",
                )
            return self.states.record(action, amount)
        if isinstance(action, ast.TrackAction):
            return self.states.record(action, None)
        if isinstance(action, ast.MessageAction):
            return check_message_action(action, hook, self.catalog, mode, exprs, self.lets)
        verb = "set" if isinstance(action, ast.SetAction) else "redact"
        return self._change(action, verb, hook, mode, exprs)

    def _continue(
        self, action: ast.Block, hook: HookSpec, mode: str, rid: str, exprs: ExprChecker
    ) -> ir.Action:
        """`continue` refuses an agent's exit: a block of the exit hook, with its own
        default code, so records and reports count it like any block."""
        if not hook.agent_exit:
            exprs.error(
                "GR0237",
                f"`continue` on {hook.name} has no effect: only an agent's exit can be refused",
                action.span,
                hint="use it on "
                + ", ".join(h.name for h in self.catalog if h.agent_exit)
                + ", or `block`",
            )
        if not MODES[mode].can_block:
            exprs.error(
                "GR0231",
                f"{_article(mode)} {mode} rule cannot refuse an exit: cpex ignores its violations",
                action.span,
                hint="use mode sequential to continue the run, or audit to record a would-block",
            )
        code = action.code.name if action.code else "GUARDRAIL_CONTINUE"
        reason = action.reason or f"rule {rid} asks the agent to continue"
        return _templated(Block("block", reason, code), action, exprs)

    def _change(
        self,
        action: ast.SetAction | ast.Redact,
        verb: str,
        hook: HookSpec,
        mode: str,
        exprs: ExprChecker,
    ) -> ir.Action:
        if not MODES[mode].can_modify:
            exprs.error(
                "GR0232",
                f"`{verb}` in {_article(mode)} {mode} rule has no effect: "
                "cpex discards its changes",
                action.span,
                hint="use mode transform (or sequential) for rules that change the payload",
            )
        path = self._target(action.target, hook, exprs)
        if isinstance(action, ast.SetAction):
            value = exprs.check(action.value)
            target_type = self._target_type(action.target, hook)
            if target_type is not None and not assignable(value.type, target_type):
                exprs.error(
                    "GR0234",
                    f"cannot set {_dotted(action.target)} ({target_type}) to a value of type "
                    f"{value.type}",
                    action.value.span,
                )
            return ir.SetAction(path, value)
        by_detector = redaction(action, path, exprs, self.lets)
        if by_detector is not None:
            return by_detector
        patterns = exprs.pattern(action.pattern)
        assert isinstance(patterns.value, tuple)
        return Redact(
            path,
            patterns.value,
            DEFAULT_REDACTION if action.replacement is None else action.replacement,
            operator=redaction_operator(action, exprs),
        )

    def _target(
        self, target: ast.Path, hook: HookSpec, exprs: ExprChecker
    ) -> tuple[ir.PathKey, ...]:
        path: tuple[ir.PathKey, ...] = (target.root, *target.keys)
        resolved = resolve_fact(hook, path)
        if resolved is None:
            facts = list(hook.facts)
            close = difflib.get_close_matches(_dotted(target), facts, n=1, cutoff=0.7)
            exprs.error(
                "GR0201",
                f"unknown fact '{_dotted(target)}' on hook {hook.name}",
                target.span,
                hint=f"did you mean '{close[0]}'?" if close else None,
            )
            return path
        spec, _ = resolved
        if not spec.writable:
            writable = hook.writable_facts
            exprs.error(
                "GR0233",
                f"'{spec.path}' is not writable on hook {hook.name}",
                target.span,
                hint="writable here: " + ", ".join(writable)
                if writable
                else f"{hook.name} is observe-only: nothing on it can be changed",
            )
        return path

    def _target_type(self, target: ast.Path, hook: HookSpec) -> Type | None:
        resolved = resolve_fact(hook, (target.root, *target.keys))
        if resolved is None:
            return None
        spec, rest = resolved
        return descend(spec.type, rest)


def _templated(block: Block, action: ast.Block, exprs: ExprChecker) -> Block:
    """A reason with `{fact}` parts: each part typed against the hook like a condition's
    fact (an unknown one is GR0201 at its column); braces only (`{{`) fold to text."""
    if action.template is None:
        return block
    parts = tuple(p if isinstance(p, str) else exprs.check(p) for p in action.template)
    if all(isinstance(p, str) for p in parts):
        return replace(block, reason="".join(map(str, parts)))
    return replace(block, template=parts)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _dotted(path: ast.Path) -> str:
    return ".".join([path.root, *(str(k) for k in path.keys)])
