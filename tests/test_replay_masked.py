"""Replay under masking: capture keeps the derived facts rules read, replay uses them,
and calls a changed rule would judge but cannot be replayed fail the gate."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner
from cpex.framework import AgentPreInvokePayload, GlobalContext

import guardrails
from guardrails.records import JsonlSink, MemorySink, read_records
from guardrails.tooling.cli import main
from guardrails.tooling.rollout import cases_from_log, replay

BUDGET = "rule budget on generation_pre_call when tokens > {} block 'too long' code BUDGET\n"
ODD = "rule odd on generation_pre_call mode audit when prompt contains 'zz' block code ODD\n"
SIZES = (100, 13_000, 15_000, 20_000)  # 25, 3250, 3750, 5000 tokens


def write_log(tmp: Path, *texts: str) -> tuple[Path, Path]:
    rules = tmp / "rules"
    rules.mkdir()
    for i, text in enumerate(texts):
        (rules / f"r{i}.rules").write_text(text)
    log = tmp / "decisions.jsonl"
    policy = guardrails.load(rules, sinks=[JsonlSink(log)], capture=True)  # masks prompt
    for n in SIZES:
        policy.evaluate("generation_pre_call", {"prompt": "secret " + "x" * n})
    policy.close()
    return rules, log


def candidate(tmp: Path, *texts: str) -> Path:
    rules = tmp / "candidate"
    rules.mkdir(parents=True)
    for i, text in enumerate(texts):
        (rules / f"r{i}.rules").write_text(text)
    return rules


def test_a_token_budget_replays_on_a_log_without_prompts(tmp_path):
    """The issue's scenario: prompts masked, the budget's threshold changed."""
    _, log = write_log(tmp_path, BUDGET.format(4000))
    assert "secret" not in log.read_text()
    calls = [r for r in read_records(log) if r["kind"] == "call"]
    assert all("__masked__" in c["facts"]["prompt"] for c in calls)
    assert sorted(c["derived"]["tokens"] for c in calls) == [27, 3252, 3752, 5002]
    result = replay(guardrails.loads(BUDGET.format(3000)), cases_from_log([log]))
    assert (result.cases, result.not_replayable, result.missing) == (4, 0, {})
    assert [c.kind for c in result.changes] == ["newly_blocked", "newly_blocked"]
    assert not replay(guardrails.loads(BUDGET.format(4000)), cases_from_log([log])).changes


def test_cpex_capture_keeps_the_derived_facts_too():
    sink = MemorySink()
    policy = guardrails.loads(
        "rule budget on agent_pre_invoke when tokens > 5 block code BUDGET\n",
        sinks=[sink], capture=True,
    )  # fmt: skip

    async def call() -> None:
        manager = await policy.manager()
        payload = AgentPreInvokePayload(
            agent_id="a", messages=[{"role": "user", "content": "hello there " * 4}]
        )
        await manager.invoke_hook("agent_pre_invoke", payload, GlobalContext(request_id="r"))

    asyncio.run(call())
    (record,) = sink.calls
    length = record.facts["prompt"]["length"]  # the prompt cpex's messages make, masked
    assert record.derived == {"tokens": -(-length // 4)} and length > 40
    assert "hello" not in json.dumps(record.to_dict())


def test_a_budget_beside_a_rule_reading_masked_text_is_judged_rule_by_rule(tmp_path):
    """No call replays whole (odd reads the masked prompt), but the changed budget
    reads only tokens: it is judged alone, and its new result is the change."""
    rules, log = write_log(tmp_path, BUDGET.format(4000), ODD)
    new = candidate(tmp_path, BUDGET.format(3000), ODD)
    result = replay(guardrails.load(new), cases_from_log([log]), guardrails.load(rules))
    assert (result.cases, result.not_replayable, result.alone) == (0, 4, 4)
    assert result.unjudged == {} and result.changes == []
    assert [(c.before, c.after) for c in result.rule_changes] == [
        ("rule budget: pass", "rule budget: block BUDGET")
    ] * 2
    out = CliRunner().invoke(main, ["replay", str(new), "--decisions", str(log),
                                    "--baseline", str(rules)])  # fmt: skip
    assert out.exit_code == 1, out.output
    assert "4 of them judged rule by rule for the changed rules, 2 rule results changed" in (
        out.output
    )
    same = candidate(tmp_path / "same", BUDGET.format(4500), ODD)  # moves no call
    out = CliRunner().invoke(main, ["replay", str(same), "--decisions", str(log),
                                    "--baseline", str(rules)])  # fmt: skip
    assert out.exit_code == 0, out.output


def test_a_changed_rule_reading_masked_text_fails_the_gate_naming_rule_and_fact(tmp_path):
    rules, log = write_log(tmp_path, BUDGET.format(4000), ODD)
    new = candidate(tmp_path, BUDGET.format(4000), ODD.replace("zz", "yy"))
    base = ["replay", str(new), "--decisions", str(log), "--baseline", str(rules)]
    out = CliRunner().invoke(main, base)
    assert out.exit_code == 1, out.output  # nothing changed that could be seen: still fails
    assert "0 cases replayed, 4 not replayable, 0 changed" in out.output
    assert "not replayable: 4 calls where odd reads prompt (masked)" in out.output
    assert "changed rule odd: 4 calls of its hooks not replayed" in out.output
    assert "changed rule budget" not in out.output  # budget is the same in both
    out = CliRunner().invoke(main, [*base, "--allow-unreplayable", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["missing"] == [{"rule": "odd", "fact": "prompt", "why": "masked", "calls": 4}]
    assert data["not_replayable_for_changed_rules"] == {"odd": 4}
    assert (data["failed"], data["allow_unreplayable"]) == (False, True)
    # against the log alone, which rules changed is unknown: every rule counts
    out = CliRunner().invoke(main, ["replay", str(new), "--decisions", str(log)])
    assert out.exit_code == 1 and "changed rule budget: 4 calls" in out.output
    assert "without --baseline, every rule counts as changed" in out.output
    # the very ruleset that wrote the log: nothing changed, nothing to judge
    assert CliRunner().invoke(main, ["replay", str(rules), "--decisions", str(log)]).exit_code == 0


def test_a_derived_fact_the_call_could_not_derive_is_reported_missing(tmp_path):
    sink_log = tmp_path / "d.jsonl"
    policy = guardrails.loads(BUDGET.format(10), sinks=[JsonlSink(sink_log)], capture=True)
    policy.evaluate("generation_pre_call", {"prompt": "p" * 80, "tokens": -1})  # a rule error
    policy.close()
    (call,) = [r for r in read_records(sink_log) if r["kind"] == "call"]
    assert call["derived"] == {}
    result = replay(guardrails.loads(BUDGET.format(20)), cases_from_log([sink_log]))
    assert result.not_replayable == 1 and result.failed
    assert dict(result.missing) == {("budget", "tokens", "prompt masked, tokens not captured"): 1}


def test_a_changed_rule_is_judged_alone_only_where_that_is_sound():
    from guardrails.tooling.rollout.isolated import Isolation

    cool = "rule cool on generation_pre_call priority 1 when true set model_options.temperature = 0.5\n"
    old = guardrails.loads(BUDGET.format(4000) + ODD)
    ok = Isolation(guardrails.loads(BUDGET.format(3000) + ODD), old, {"budget"})
    assert ok.isolable("generation_pre_call") == {"budget"}
    assert ok.judge("generation_pre_call", "budget", {"tokens": 3500}) == ("pass", "block BUDGET")
    # a rule before it changes the facts it sees: its result alone says nothing
    after_set = Isolation(guardrails.loads(cool + BUDGET.format(3000) + ODD), old, {"budget"})
    assert after_set.isolable("generation_pre_call") == frozenset()
    # the rules both rulesets hold run in another order: who blocks first may change
    odd = ODD.replace("mode audit", "priority 150")
    before = guardrails.loads(BUDGET.format(4000) + odd)
    moved = guardrails.loads(BUDGET.format(4000).replace("when", "priority 200 when") + odd)
    assert Isolation(moved, before, {"budget"}).isolable("generation_pre_call") == frozenset()
    kept = guardrails.loads(BUDGET.format(3000) + odd)
    assert Isolation(kept, before, {"budget"}).isolable("generation_pre_call") == {"budget"}
