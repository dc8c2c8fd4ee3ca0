"""Lints: each fires on the mistake it names, stays quiet on the near miss, and can be
switched off or silenced."""

from __future__ import annotations

import datetime
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import guardrails
from guardrails.check import ir
from guardrails.check.catalog import DEFAULT_CATALOG
from guardrails.check.lints import _conjuncts, lint
from guardrails.check.types import ANY, BOOL, FLOAT
from guardrails.policy.frontend import front_end as _front_end
from guardrails.runtime.program import Block
from guardrails.source import SourceFile


def codes(text: str) -> list[tuple[str, int]]:
    _, diags = _front_end([SourceFile("l.rules", text)], DEFAULT_CATALOG)
    return [(d.code, d.line) for d in diags]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on generation_pre_call when tokens > 10 and tokens < 5 block", [("GR0301", 1)]),
        ("on generation_pre_call when tokens >= 5 and tokens < 5 block", [("GR0301", 1)]),
        ("on generation_pre_call when tokens == 3 and 5 <= tokens block", [("GR0301", 1)]),
        ("on generation_pre_call when tokens > 10 and tokens < 50 block", []),
        ("on generation_pre_call when tokens >= 5 and tokens <= 5 block", []),
        ("on generation_pre_call when tokens > 10 or tokens < 5 block", []),
        (
            "rule a on tool_pre_invoke priority 1 when tool.name == 'x' block\n"
            "rule b on tool_pre_invoke priority 2 when tool.name == 'x' and user == 'y' block",
            [("GR0302", 2)],
        ),
        (
            "rule a on tool_pre_invoke priority 1 when tool.name == 'x' and user == 'y' block\n"
            "rule b on tool_pre_invoke priority 2 when tool.name == 'x' block",
            [],
        ),
        (
            "rule a on tool_pre_invoke priority 1 mode audit when tool.name == 'x' block\n"
            "rule b on tool_pre_invoke priority 2 when tool.name == 'x' block",
            [],
        ),
        (
            "rule a on tool_pre_invoke when tool.name == 'x' block\n"
            "rule b on tool_pre_invoke when tool.name == 'x' warn",
            [("GR0302", 2), ("GR0303", 2)],
        ),
        (
            "rule a on generation_pre_call mode transform set model_options.t = 1\n"
            "rule b on generation_pre_call mode transform priority 5 set model_options.t = 2",
            [("GR0305", 2)],
        ),
        (
            "rule a on generation_pre_call mode transform set model_options.t = 1\n"
            "rule b on generation_pre_call set model_options.t = 2",
            [],
        ),
    ],
)
def test_lints(text, expected):
    assert codes(text) == expected


def test_audit_age_from_since():
    text = (
        'rule shadowy on generation_pre_call mode audit since "2026-01-01" when tokens > 1 block\n'
    )
    from guardrails.check.modules import check_modules
    from guardrails.syntax.parser import parse

    module, _ = parse(SourceFile("l.rules", text))
    ruleset, _ = check_modules([module], DEFAULT_CATALOG)
    late = lint(ruleset, [module], today=datetime.date(2026, 3, 1))
    assert [(d.code, d.line, d.column) for d in late] == [("GR0304", 1, 54)]
    assert "59 days" in late[0].message
    assert lint(ruleset, [module], today=datetime.date(2026, 1, 20)) == []
    enforced = text.replace("mode audit ", "")
    module, _ = parse(SourceFile("l.rules", enforced))
    ruleset, _ = check_modules([module], DEFAULT_CATALOG)
    assert lint(ruleset, [module], today=datetime.date(2027, 1, 1)) == []
    with pytest.raises(guardrails.RulesError, match="GR0236"):
        guardrails.loads('rule r on generation_pre_call mode audit since "last week" block')


def test_suppression_comment_and_disable(tmp_path):
    text = (
        "rule a on tool_pre_invoke when tool.name == 'x' block\n"
        "rule b on tool_pre_invoke when tool.name == 'x' and user == 'y' block  # guardrails: ignore[GR0302]\n"
        "let spare = 1  # guardrails: ignore[GR0300]\n"
        "on generation_pre_call when tokens > 10 and tokens < 5 block\n"
    )
    assert codes(text) == [("GR0301", 4)]
    path = tmp_path / "l.rules"
    path.write_text(text)
    assert [d.code for d in guardrails.check(path, disable={"GR0301"})] == []
    proc = subprocess.run([sys.executable, "-m", "guardrails", "check", str(path), "--disable", "GR0301"],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0 and "no problems" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "guardrails", "check", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "warning[GR0301]" in proc.stdout  # lints are warnings


def test_lints_do_not_run_on_rules_with_errors():
    assert codes("on generation_precall when tokens > 10 and tokens < 5 block") == [("GR0200", 1)]


def test_lints_of_the_clean_rules_are_shown_alongside_errors():
    text = (
        "let unused = 1\n"
        "rule a on generation_pre_call when tokens > 5 and tokens < 3 block\n"  # lint
        "rule b on generation_pre_call when prompt > 5 block\n"  # error
        "rule c on generation_pre_call when tokens < 2 and tokens > 9 and prompt > 1 block\n"
    )
    assert codes(text) == [("GR0300", 1), ("GR0301", 2), ("GR0210", 3), ("GR0210", 4)]


def test_never_used_warnings_are_dropped_when_a_syntax_error_lost_an_item():
    text = (
        'let words = ["a"]\n'
        "counter calls per user\n"
        "rule a on generation_pre_call when tokens > 5 and tokens < 3 block\n"
        "rule b on tool_pre_invoke when prompt in words and calls > 3 blok\n"
    )
    assert codes(text) == [("GR0301", 3), ("GR0100", 4)]


# ---- GR0302 through the blocker index, against the pairwise definition ----

_FILE = SourceFile("p.rules", "rule " * 20)
_NAN = float("nan")


def _atom(i: int) -> ir.IR:
    fact = ir.FactRef(("tool", "args", f"k{i % 3}"), ANY)
    if i == 6:  # equal only to itself: another NaN object makes a different constant
        return ir.Op(">", (fact, ir.Const(float("nan"), FLOAT)), BOOL)
    value: object = _NAN if i == 5 else (i if i % 2 else f"v{i}")
    return ir.Op("==", (fact, ir.Const(value, ANY)), BOOL)


def _condition(atoms: list[int], right_deep: bool, wrap_or: bool) -> ir.IR | None:
    parts = [_atom(i) for i in atoms]  # rebuilt each time: equal, not identical
    if wrap_or and len(parts) >= 2:
        parts[:2] = [ir.Op("or", (parts[0], parts[1]), BOOL)]
    if not parts:
        return None
    condition = parts[-1] if right_deep else parts[0]
    for part in reversed(parts[:-1]) if right_deep else parts[1:]:
        pair = (part, condition) if right_deep else (condition, part)
        condition = ir.Op("and", pair, BOOL)
    return condition


@st.composite
def _rulesets(draw: st.DrawFn) -> list[ir.CheckedRule]:
    rules = []
    for position in range(draw(st.integers(0, 30))):
        hooks = draw(st.lists(st.sampled_from(["h1", "h2", "h3"]), min_size=1, max_size=3))
        kind = draw(st.sampled_from(["block", "block", "warn"]))
        rules.append(
            ir.CheckedRule(
                id=f"r{position}",
                index=draw(st.one_of(st.just(position), st.integers(0, 30))),
                description=None,
                hooks=tuple(hooks),
                mode=draw(st.sampled_from(["sequential", "sequential", "audit", "transform"])),
                on_error=draw(st.sampled_from(["fail", "fail", "ignore"])),
                priority=draw(st.integers(0, 3)),
                condition=_condition(
                    draw(st.lists(st.integers(0, 7), max_size=5)),
                    draw(st.booleans()),
                    draw(st.booleans()),
                ),
                actions=(Block(kind, "r", "C"),),
                span=_FILE.span(5 * (position % 20), 5 * (position % 20) + 4),
            )
        )
    return rules


def _pairwise_shadowed(rules: list[ir.CheckedRule]) -> list[tuple[str, str | None]]:
    """GR0302 as first written: every rule against every earlier blocker (quadratic)."""
    out = []
    blockers = [r for r in rules if r.mode == "sequential" and r.blocks and r.on_error == "fail"]
    for rule in rules:
        if rule.mode != "sequential":
            continue
        mine = _conjuncts(rule.condition)
        for earlier in blockers:
            if earlier is rule or (earlier.priority, earlier.index) >= (rule.priority, rule.index):
                continue
            if not set(rule.hooks) <= set(earlier.hooks):
                continue
            theirs = _conjuncts(earlier.condition)
            if all(t in mine for t in theirs):
                message = (
                    f"rule {rule.id} never runs: {earlier.id} ({earlier.location}) blocks "
                    "first whenever it would fire"
                )
                out.append(
                    (message, f"give {rule.id} a lower priority than {earlier.id}, or remove it")
                )
                break
    return out


@settings(max_examples=500, deadline=None)
@given(_rulesets())
def test_shadowing_index_agrees_with_the_pairwise_definition(rules):
    found = lint(ir.CheckedRuleset(tuple(rules), ()), [], today=datetime.date(2026, 1, 1))
    assert [(d.message, d.hint) for d in found if d.code == "GR0302"] == _pairwise_shadowed(rules)
