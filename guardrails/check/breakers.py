"""The `breaker` clause of a rule: its thresholds, checked (runtime/breaker.py runs them).

GR0285  failure count out of range
GR0286  unknown breaker setting (only `off` is a word there)
GR0287  window or cooldown out of range
GR0288  a breaker on a rule that only updates state (it is never run: nothing to break)
GR0325  (warning) a breaker on an `on_error ignore` rule: whoever can make it fail a
        few times switches it off for every call for the cooldown
"""

from __future__ import annotations

from collections.abc import Sequence

from ..diagnostics import Diagnostic, Severity
from ..runtime.breaker import BreakerConfig
from ..syntax import ast
from . import ir

MAX_FAILURES = 1000
MIN_SECONDS = 1.0
MAX_SECONDS = 86400.0
_FORM = "write `breaker 5 in 1m cooldown 30s` (failures in a window, then the cooldown)"


def check_breaker(
    rule: ast.Rule, actions: Sequence[ir.Action], diags: list[Diagnostic]
) -> BreakerConfig | bool | None:
    """The rule's breaker as the program carries it: a config, False for `breaker
    off`, None without a clause (the load option decides)."""
    if not rule.breakers:
        return None
    for extra in rule.breakers[1:]:
        diags.append(Diagnostic("GR0209", Severity.ERROR, "a rule takes one `breaker` clause",
                                extra.span))  # fmt: skip
    clause = rule.breakers[0]
    if clause.setting is not None:
        if clause.setting.name == "off":
            return False
        diags.append(Diagnostic(
            "GR0286", Severity.ERROR, f"unknown breaker setting '{clause.setting.name}'",
            clause.setting.span, hint=_FORM + ", or `breaker off`",
        ))  # fmt: skip
        return None
    assert clause.failures and clause.window and clause.cooldown  # the grammar's other form
    ok = True
    count, span = clause.failures
    if not 1 <= count <= MAX_FAILURES:
        diags.append(Diagnostic(
            "GR0285", Severity.ERROR, f"a breaker trips after 1 to {MAX_FAILURES} failures",
            span, hint=_FORM,
        ))  # fmt: skip
        ok = False
    for (seconds, where), word in ((clause.window, "window"), (clause.cooldown, "cooldown")):
        if not MIN_SECONDS <= seconds <= MAX_SECONDS:
            diags.append(Diagnostic(
                "GR0287", Severity.ERROR, f"a breaker's {word} runs from 1s to 1d", where,
                hint=_FORM,
            ))  # fmt: skip
            ok = False
    records = [a for a in actions if isinstance(a, ir.Record)]
    if records and len(records) == len(actions):
        diags.append(Diagnostic(
            "GR0288", Severity.ERROR, "a rule that only updates state has no breaker to trip",
            clause.span, hint="its update is made in the call's state exchange, not by running "
            "the rule; put the breaker on the rule that reads the state",
        ))  # fmt: skip
        ok = False
    return BreakerConfig(count, clause.window[0], clause.cooldown[0]) if ok else None


def breaker_warnings(
    rule: ast.Rule, on_error: str, breaker: BreakerConfig | bool | None
) -> list[Diagnostic]:
    if not isinstance(breaker, BreakerConfig) or on_error != "ignore":
        return []
    return [Diagnostic(
        "GR0325", Severity.WARNING,
        "a breaker on an `on_error ignore` rule switches the rule off while it is open",
        rule.breakers[0].span, hint="whoever can make the rule fail a few times lets every "
        "call pass it for the cooldown; drop `on_error ignore` or the breaker",
    )]  # fmt: skip
