"""The example policies (examples/policies/*.rules) against their corpus
(examples/policies/corpus): every case from its prior state, through `Policy.evaluate`
and a real cpex manager, with a snapshot and the case's own expectations."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest

import guardrails
from guardrails.tooling.casejudge import CaseJudge
from guardrails.tooling.corpus import Expectation, iter_cases, load_policy
from guardrails.tooling.pytest_plugin import check_case

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "examples" / "policies"
CORPUS = POLICIES / "corpus"
CASES = list(iter_cases(CORPUS))
FIRED = ("block", "warn", "modify", "would_block", "record")


@pytest.fixture(scope="module")
def policy() -> guardrails.Policy:
    return load_policy(POLICIES)


@pytest.fixture(scope="module")
def manager(policy):
    logging.getLogger("cpex").setLevel(logging.ERROR)  # blocks are expected here
    return asyncio.run(policy.manager())


def test_the_examples_check_clean():
    assert guardrails.check(POLICIES, judge=CaseJudge()) == []


@pytest.mark.parametrize("path", [p for _, p in CASES], ids=[f"{h}/{p.stem}" for h, p in CASES])
def test_case(policy, manager, path, snapshot):
    check_case(policy, manager, path, snapshot)


def test_every_rule_fires_on_a_case_and_has_a_near_miss(policy):
    """A rule with a condition needs a case that expects it to fire and one that
    expects it to pass; one without (it records on every call) only the first."""
    fired, passed = set(), set()
    for _, path in CASES:
        raw = json.loads(path.read_text())["expect"]
        for text in [raw] if isinstance(raw, str) else raw:
            expectation = Expectation.parse(text)
            if expectation.verdict in FIRED:
                fired.add(expectation.rule)
            elif expectation.verdict == "pass":
                passed.add(expectation.rule)
    rules = {r.id for r in policy.rules}
    conditional = {r for r in rules if policy.checked_rules[r].condition is not None}
    assert rules - fired == set()
    assert conditional - passed == set()


def test_prior_state_decides_the_verdict(policy):
    """The snapshots are not vacuous: the same call without its prior state is allowed."""
    from guardrails.tooling.corpus import load_case, run_case

    case = load_case(CORPUS / "tool_pre_invoke" / "email_limit_6th_email.json", "tool_pre_invoke")
    assert run_case(policy, case).verdict.blocked_by == "email_limit"
    assert run_case(policy, replace(case, state=())).verdict.outcome == "allow"


def test_tool_hook_reasons_name_the_tool_and_the_expression(policy):
    """Mellea's tool-hooks example puts the tool into its reasons; so do the rules."""
    verdict = policy.evaluate(
        "tool_pre_invoke", {"tool": {"name": "search_web", "args": {}}}, now=0.0
    )
    assert verdict.reason == "tool 'search_web' is not permitted"
    facts = {"tool": {"name": "calculator", "args": {"expression": "open('x')"}}}
    verdict = policy.evaluate("tool_pre_invoke", facts, now=0.0)
    assert verdict.reason == (
        "calculator expression 'open('x')' has characters outside 0-9 + - * / ( ) ."
    )
