"""The checker's entry point: every file of one load at once.

Lets are shared across files and folded first, states are declared next, then every
rule is checked against each hook it names; rule ids must be unique across files.
Every problem found is reported in one pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..diagnostics import Diagnostic, Severity
from ..runtime.hostfn import HostFunction
from ..source import Span
from ..syntax import ast
from . import ir
from .catalog import Catalog
from .names import LetTable
from .reuse import RuleMemo
from .rules import RuleChecker
from .states import StateTable


def check_modules(
    modules: Sequence[ast.Module],
    catalog: Catalog,
    functions: Mapping[str, HostFunction] | None = None,
    memo: RuleMemo | None = None,
) -> tuple[ir.CheckedRuleset, list[Diagnostic]]:
    """Check every rule of one load; returns the rules that checked clean and all
    diagnostics. `functions` are the load's host functions (`load(functions=...)`);
    `memo` keeps rule checks for the next call (the language server's, reuse.py)."""
    diags: list[Diagnostic] = []
    lets = LetTable(diags)
    for module in modules:
        for item in module.items:
            if isinstance(item, ast.Let):
                lets.declare(item)
    for name in list(lets.lets):
        lets.value(name)  # fold every let once, so errors in unused lets are reported too
    lets.used.clear()
    states = StateTable(diags, lets)
    for module in modules:
        for item in module.items:
            if isinstance(item, ast.StateDecl):
                states.declare(item)

    checker = RuleChecker(catalog, lets, diags, states, functions)
    if memo is not None:
        lets_now, states_now = tuple(lets.lets.values()), tuple(states.decls.values())
        memo.begin((lets_now, states_now, id(catalog), id(functions)))
    rules: list[ir.CheckedRule] = []
    first_seen: dict[str, Span] = {}
    index = 0
    for module in modules:
        for item in module.items:
            if not isinstance(item, ast.Rule):
                continue
            rid = checker.rule_id(item)
            id_span = item.name.span if item.name else item.span
            if rid in first_seen:
                first = first_seen[rid]
                diags.append(
                    Diagnostic(
                        "GR0205",
                        Severity.ERROR,
                        f"duplicate rule id '{rid}'",
                        id_span,
                        hint=f"first defined at {first.location}",
                        related=((f"rule '{rid}' is first defined here", first),),
                    )
                )
            else:
                first_seen[rid] = id_span
            checked = (
                checker.check(item, index) if memo is None else memo.check(checker, item, index)
            )
            index += 1
            if checked is not None:
                rules.append(checked)
    if memo is not None:
        memo.end()
    for let in lets.unused():
        diags.append(
            Diagnostic(
                "GR0300",
                Severity.WARNING,
                f"let '{let.name.name}' is never used",
                let.name.span,
                hint="remove it, or use it in a rule",
            )
        )
    diags.extend(states.unused())
    sources = tuple((m.file.path, m.file.text) for m in modules)
    return ir.CheckedRuleset(tuple(rules), sources, states.checked()), diags
