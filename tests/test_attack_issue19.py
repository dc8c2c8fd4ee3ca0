"""Attacks on the literal prefilter, the equality index and the compiled-ruleset
cache: each test is a way through a guardrail, a crash, or a cached load that could
run code or decide differently from a cold one, found and closed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

import guardrails

HOOK = "tool_pre_invoke"


def _decisions(policy: guardrails.Policy, facts: dict) -> tuple[tuple[object, ...], ...]:
    """What a lean call (prefilter and index on) and a detailed call of every rule
    decide: the same, or a rule was left out that would have acted."""
    runner = policy.compiled.runners[HOOK]
    full, lean = runner.run(facts, detail=True), policy.evaluate(HOOK, facts)
    return tuple((v.outcome, v.blocked_by, v.code, v.reason) for v in (full, lean))


# ---- the equality index ----


@pytest.mark.parametrize(
    "condition, value",
    [
        ('tool.args.tags == ["a"]', ["a"]),
        ('["a", "b"] == tool.args.tags', ("a", "b")),
        ('tool.args.tags == ["a"] and tool.name == "t"', ["a"]),
    ],
)
def test_a_list_equality_is_not_indexed_as_membership(condition, value):
    """`tags == ["a"]` holds for the list ["a"]: the index took the list literal for
    the keys of `tags in ["a"]` and never ran the rule on a list."""
    policy = guardrails.loads(f"rule r on {HOOK} when {condition} block\n", cache=False)
    full, lean = _decisions(policy, {"tool": {"name": "t", "args": {"tags": value}}})
    assert full[:2] == ("block", "r") and lean == full


# ---- facts that raise while the selector reads them ----


class Raising(Mapping[str, object]):
    """A host mapping whose reads fail (a lazy payload whose backend is down)."""

    def __getitem__(self, key: str) -> object:
        raise RuntimeError("backend down")

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def get(self, key: str, default: object = None) -> object:
        raise RuntimeError("backend down")


@pytest.mark.parametrize(
    "condition", ['tool.args.q contains "x"', 'tool.args.q == "x"', 'tool.args.q startswith "x"']
)
def test_a_fact_that_raises_fails_closed_in_lean_calls_too(condition):
    """The rule's own read raises and fails closed; the selector's read of the same
    path raised out of `Policy.evaluate` (documented never to raise for bad facts)."""
    policy = guardrails.loads(f"rule r on {HOOK} when {condition} block\n", cache=False)
    facts = {"tool": {"name": "t", "args": Raising()}}
    full, lean = _decisions(policy, facts)
    assert full[:3] == ("block", "r", "GUARDRAIL_ERROR") and lean == full
