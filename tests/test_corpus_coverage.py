"""Corpus coverage, computed: the goals of docs/testing.md ("Coverage"), case by case."""

from __future__ import annotations

from guardrails.tooling.corpus import Case, load_policy, run_case
from guardrails.tooling.coverage import Coverage, state_read

RULES = """
rule shell on tool_pre_invoke
  when tool.name == "shell" or (tool.name == "bash" and not user.role == "ops")
  unless user.role == "admin"
  block "no shell" code NO_SHELL
rule only_unless on tool_pre_invoke unless user.role == "admin" warn "not an admin"
rule never on tool_pre_invoke when tool.name == "zzz" warn "never"
rule always on tool_pre_invoke warn "always"
"""


def cover(tmp_path, calls, rules=RULES):
    (tmp_path / "r.rules").write_text(rules)
    policy = load_policy(tmp_path / "r.rules")
    coverage = Coverage(policy)
    for n, facts in enumerate(calls):
        case = Case("tool_pre_invoke", f"c{n}", tmp_path / f"c{n}.json", facts)
        verdict = run_case(policy, case).verdict
        coverage.observe(
            policy, case.hook, facts, verdict, state_read(policy, case.hook, facts, case)
        )
    return coverage


def call(name, role):
    return {"tool": {"name": name, "args": {}}, "user": {"role": role}}


def operands(coverage, rule):
    return [(o.clause, o.text, o.true, o.false) for o in coverage.rules[rule].operands]


def test_operands_are_the_leaves_of_when_and_unless_with_short_circuit(tmp_path):
    coverage = cover(tmp_path, [call("shell", "guest"), call("bash", "ops")])
    # case 0: "shell" true, so the `and` after `or` is never reached; unless false.
    # case 1: "shell" false, "bash" true, role == "ops" true (under `not`): the when
    # is false, so `and not unless` short-circuits: the unless is not evaluated.
    assert operands(coverage, "shell") == [
        ("when", 'tool.name == "shell"', 1, 1),
        ("when", 'tool.name == "bash"', 1, 0),
        ("when", 'user.role == "ops"', 1, 0),
        ("unless", 'user.role == "admin"', 0, 1),
    ]
    rule = coverage.rules["shell"]
    assert (rule.cases, rule.fired, rule.passed) == (2, 1, 1)
    # met: fire, pass, "shell" both ways, then one way each; of fire + pass + 4 x 2
    assert rule.goals() == (2 + 2 + 1 + 1 + 1, 2 + 8)


def test_a_rule_with_only_unless_and_one_without_a_condition(tmp_path):
    coverage = cover(tmp_path, [call("x", "admin"), call("x", "guest")])
    assert operands(coverage, "only_unless") == [("unless", 'user.role == "admin"', 1, 1)]
    assert coverage.rules["only_unless"].goals() == (4, 4)
    always = coverage.rules["always"]
    assert (always.conditional, always.operands, always.goals()) == (False, [], (1, 1))


def test_never_fired_rules_are_named_and_the_percentage_is_over_all_goals(tmp_path):
    coverage = cover(tmp_path, [call("x", "guest")])
    assert coverage.never_fired() == ["shell", "never"]
    met, total = coverage.goals()
    assert 0 < met < total
    assert coverage.percent == 100.0 * met / total
    text = coverage.render()
    assert "rules no case fires: shell, never" in text
    assert 'when tool.name == "zzz": never true' in text
    data = coverage.to_dict()
    assert data["never_fired"] == ["shell", "never"] and data["goals"] == total


def test_a_rule_skipped_after_a_block_neither_fires_nor_passes(tmp_path):
    rules = """
rule first on tool_pre_invoke when tool.name == "shell" block "no" code A
rule second on tool_pre_invoke when user.role == "guest" block "no" code B
"""
    coverage = cover(tmp_path, [call("shell", "guest")], rules)
    second = coverage.rules["second"]
    assert (second.cases, second.fired, second.passed) == (1, 0, 0)
    assert operands(coverage, "second") == [("when", 'user.role == "guest"', 0, 0)]


def test_an_operand_that_fails_to_evaluate_is_neither(tmp_path):
    rules = 'rule r on tool_pre_invoke when tool.args.n > 3 warn "big"\n'
    coverage = cover(tmp_path, [{"tool": {"name": "x", "args": {"n": "many"}}}], rules)
    assert operands(coverage, "r") == [("when", "tool.args.n > 3", 0, 0)]
