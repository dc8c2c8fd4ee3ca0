"""Circuit breakers in the engine and in every host path of one policy.

A rule whose fact has the wrong type at run time raises (a `RuleTypeError`): that is
the failing call. While its breaker is open, a call with a payload the rule would
block on still gets `error` (circuit open), which shows the rule was not run. Time
moves only when a test moves the board's clock.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from cpex.framework import GlobalContext, PluginError, ToolPreInvokePayload

import guardrails
from guardrails.records import JsonlSink, MemorySink
from guardrails.runtime import engine
from guardrails.runtime.breaker import BreakerConfig, Breakers

# every test here fails through a stand-in dependency (conftest.failing_dependency)
pytestmark = pytest.mark.usefixtures("failing_dependency")


HOOK = "tool_pre_invoke"
RULE = (
    "rule big on tool_pre_invoke breaker 3 in 1m cooldown 30s\n"
    '  when tool.args.n + 1 > 5 block "too big" code BIG\n'
)
BAD = {"tool": {"name": "t", "args": {"n": "many"}}}  # `+` on a string: the rule raises
HUGE = {"tool": {"name": "t", "args": {"n": 10}}}  # the rule blocks it
SMALL = {"tool": {"name": "t", "args": {"n": 1}}}  # the rule passes it


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def load(text: str = RULE, **options: Any) -> tuple[guardrails.Policy, Clock, MemorySink]:
    clock = Clock()
    sink = MemorySink()
    default = options.pop("default", None)
    board = Breakers(default, clock=clock)
    return guardrails.loads(text, "r.rules", breaker=board, sinks=[sink], **options), clock, sink


def state(policy: guardrails.Policy) -> str:
    (found,) = policy.breakers.states().values()
    return found


def test_trips_after_n_failures_then_errors_at_once_without_running_the_rule():
    policy, clock, _sink = load()
    for _ in range(3):
        verdict = policy.evaluate(HOOK, BAD)
        assert verdict.outcome == "block"
        assert verdict.reason.startswith("rule big failed: ")
    assert state(policy) == "open"
    # a payload the rule would block with BIG: the verdict is the open circuit's error
    verdict = policy.evaluate(HOOK, HUGE)
    assert verdict.outcome == "block"  # fail closed, exactly like the failure
    result = verdict.rule("big")
    assert (result.verdict, result.code, result.error) == (
        "error",
        "GUARDRAIL_ERROR",
        "circuit open",
    )
    assert result.reason.startswith("rule big not run: circuit open after 3 failures within 1m")
    assert "the next call in 30.0s probes it" in result.reason
    # and one the rule would pass: still not run, still an error (never a silent pass)
    assert policy.evaluate(HOOK, SMALL).rule("big").verdict == "error"
    clock.now += 12
    assert "in 18.0s" in policy.evaluate(HOOK, SMALL).reason


def test_after_the_cooldown_a_successful_probe_closes_it():
    policy, clock, sink = load()
    for _ in range(3):
        policy.evaluate(HOOK, BAD)
    clock.now += 30
    verdict = policy.evaluate(HOOK, HUGE)  # the probe: the rule runs and blocks
    assert (verdict.outcome, verdict.code) == ("block", "BIG")
    assert state(policy) == "closed"
    assert policy.evaluate(HOOK, SMALL).outcome == "allow"
    policy.flush()
    changes = [(r.change, r.state, r.rule, r.hook) for r in sink.breakers]
    assert changes == [
        ("trip", "open", "big", HOOK),
        ("probe", "half_open", "big", HOOK),
        ("reset", "closed", "big", HOOK),
    ]
    assert sink.breakers[0].failures == 3
    assert sink.breakers[0].cooldown_ms == 30000


def test_a_probe_that_fails_reopens_it():
    policy, clock, sink = load()
    for _ in range(3):
        policy.evaluate(HOOK, BAD)
    clock.now += 30
    assert policy.evaluate(HOOK, BAD).reason.startswith("rule big failed")  # the probe ran
    assert state(policy) == "open"
    assert policy.evaluate(HOOK, HUGE).rule("big").error == "circuit open"
    clock.now += 30
    assert policy.evaluate(HOOK, SMALL).outcome == "allow"
    policy.flush()
    assert [r.change for r in sink.breakers] == ["trip", "probe", "reopen", "probe", "reset"]


def test_calls_racing_for_the_probe_run_the_rule_once_while_half_open():
    """Threads arriving together after the cooldown: one probes; each other call either
    is refused (circuit open) or comes after the probe closed it and runs the rule."""
    import threading

    policy, clock, sink = load()
    for _ in range(3):
        policy.evaluate(HOOK, BAD)
    clock.now += 30
    start = threading.Barrier(16)
    verdicts: list[Any] = []

    def call() -> None:
        start.wait()
        verdicts.append(policy.evaluate(HOOK, HUGE).rule("big"))

    workers = [threading.Thread(target=call) for _ in range(16)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    policy.flush()
    assert [r.change for r in sink.breakers] == ["trip", "probe", "reset"]
    ran = [r for r in verdicts if r.verdict == "block"]
    refused = [r for r in verdicts if r.error == "circuit open"]
    assert len(ran) >= 1 and len(ran) + len(refused) == 16
    assert all("a probe call is under way" in r.reason for r in refused)
    assert state(policy) == "closed"


def test_on_error_ignore_lets_the_call_through_while_open_but_says_error():
    text = RULE.replace("cooldown 30s", "cooldown 30s on_error ignore")
    policy, _clock, _ = load(text)
    assert [w.code for w in policy.warnings] == ["GR0325"]
    for _ in range(3):
        policy.evaluate(HOOK, BAD)
    verdict = policy.evaluate(HOOK, HUGE)
    assert verdict.outcome == "allow"
    assert verdict.rule("big").verdict == "error"
    assert verdict.rule("big").error == "circuit open"


def test_no_breaker_by_default_every_failure_runs_the_rule():
    policy = guardrails.loads(RULE.replace("breaker 3 in 1m cooldown 30s", ""), "r.rules")
    for _ in range(10):
        assert policy.evaluate(HOOK, BAD).reason.startswith("rule big failed")
    assert policy.evaluate(HOOK, HUGE).code == "BIG"
    assert policy.breakers.states() == {}


def test_the_load_option_gives_rules_without_a_clause_a_breaker_and_breaker_off_opts_out():
    text = (
        'rule plain on tool_pre_invoke when tool.args.n + 1 > 5 block "plain"\n'
        "rule exempt on tool_pre_invoke priority 1 breaker off\n"
        '  when tool.args.n * 2 > 10 warn "exempt"\n'  # warn-only: its errors never block
    )
    policy, _, _ = load(text, default=BreakerConfig(2, 60, 30))
    for _ in range(4):
        verdict = policy.evaluate(HOOK, BAD)
        assert verdict.rule("exempt").reason.startswith("rule exempt failed")  # always run
    verdict = policy.evaluate(HOOK, HUGE)
    assert verdict.rule("plain").error == "circuit open"
    assert verdict.rule("exempt").verdict == "warn"  # no breaker: it ran
    assert len(policy.breakers.states()) == 1
    verdict = guardrails.loads(text, "r.rules", breaker=False).evaluate(HOOK, HUGE)
    assert verdict.reason == "plain"


def test_load_option_true_and_a_mapping():
    text = 'rule plain on tool_pre_invoke when tool.args.n + 1 > 5 block "plain"\n'
    for option, failures in ((True, 5), ({"failures": 2, "cooldown_ms": 1000}, 2)):
        policy = guardrails.loads(text, "r.rules", breaker=option)
        for _ in range(failures):
            assert policy.evaluate(HOOK, BAD).reason.startswith("rule plain failed")
        assert policy.evaluate(HOOK, HUGE).rule("plain").error == "circuit open"
    with pytest.raises(guardrails.GuardrailsError, match="failures must be at least 1"):
        guardrails.loads(text, breaker={"failures": 0})


def test_a_reload_keeps_an_unchanged_rules_breaker_and_an_edited_rule_starts_closed():
    other = 'rule other on tool_pre_invoke when tool.name == "zzz" block "other"\n'
    policy, _clock, _ = load(RULE + other)
    for _ in range(3):
        policy.evaluate(HOOK, BAD)
    policy.reload(RULE + other.replace("zzz", "yyy"))  # `big` unchanged
    assert policy.evaluate(HOOK, HUGE).rule("big").error == "circuit open"
    policy.reload(RULE.replace('"too big"', '"far too big"') + other)  # `big` edited
    verdict = policy.evaluate(HOOK, HUGE)
    assert verdict.reason == "far too big"


def test_errors_that_are_not_the_rules_own_do_not_count():
    policy, _, _ = load()
    for _ in range(5):  # facts that are not a mapping: the host's failure, not the rule's
        assert policy.evaluate(HOOK, ["not", "facts"]).outcome == "block"  # type: ignore[arg-type]
    assert state(policy) == "closed"


class SteppedPerfCounter:
    """A stand-in for `time` in the engine: each perf_counter() read is the next
    value, so a time-budget overrun happens without anything being slow."""

    def __init__(self, values: list[float]) -> None:
        self.values = iter(values)

    def perf_counter(self) -> float:
        return next(self.values)

    @staticmethod
    def time() -> float:
        return 0.0


def test_a_time_budget_overrun_counts_only_against_the_rule_that_began_in_time(monkeypatch):
    text = (
        "rule slow on tool_pre_invoke priority 1 breaker 1 in 1m cooldown 30s "
        'when tool.args.n > 100 block "slow"\n'
        "rule after on tool_pre_invoke priority 2 breaker 1 in 1m cooldown 30s "
        'when tool.args.n > 100 block "after"\n'
    )
    policy, _, _ = load(text, time_budget_ms=250)
    # deadline at 0.25; `slow` begins at 0.1 and ends at 1.0 (its overrun); the call
    # is blocked, so `after` never runs
    monkeypatch.setattr(engine, "time", SteppedPerfCounter([0.0, 0.1, 1.0]))
    verdict = policy.evaluate(HOOK, SMALL)
    assert verdict.blocked_by == "slow" and "time budget" in verdict.reason
    assert (
        policy.breakers.states()[next(k for k in policy.breakers.states() if "slow" in k)] == "open"
    )
    # a rule that begins after the budget is spent: an error, but not its breaker's
    warn_only = text.replace('block "slow"', 'warn "slow"')  # its error does not block
    policy, _, _ = load(warn_only, time_budget_ms=250)
    monkeypatch.setattr(engine, "time", SteppedPerfCounter([0.0, 0.1, 1.0, 1.1, 1.2]))
    verdict = policy.evaluate(HOOK, SMALL)
    assert verdict.rule("after").verdict == "error"
    states = policy.breakers.states()
    assert {k.split("@")[0]: v for k, v in states.items()} == {
        "rule:slow": "open", "rule:after": "closed"}  # fmt: skip


# ---- host paths: one board for Policy.evaluate and a real cpex manager ----


async def through(manager: Any, facts: dict[str, Any], gctx: GlobalContext) -> tuple[str, str]:
    payload = ToolPreInvokePayload(**facts["tool"])
    try:
        result, _ = await manager.invoke_hook(HOOK, payload, gctx)
    except PluginError as err:  # pragma: no cover - a sequential rule blocks, not raises
        return ("raised", str(err))
    if result.continue_processing:
        return ("allow", "")
    return (result.violation.code, result.violation.reason)


def test_cpex_with_a_reused_context_and_evaluate_share_one_breaker():
    policy, clock, sink = load()

    async def run() -> list[tuple[str, str]]:
        manager = await policy.manager(timeout=5)
        reused = GlobalContext(request_id="shared")
        seen = []
        policy.evaluate(HOOK, BAD)  # failure 1, through evaluate
        seen.append(await through(manager, BAD, reused))  # failure 2, through cpex
        seen.append(await through(manager, BAD, GlobalContext(request_id="fresh")))  # 3: trips
        seen.append(await through(manager, HUGE, reused))  # open: not run
        verdict = policy.evaluate(HOOK, HUGE)  # open for evaluate too
        seen.append((verdict.code or "", verdict.reason or ""))
        clock.now += 30
        seen.append(await through(manager, HUGE, reused))  # the probe, through cpex
        verdict = policy.evaluate(HOOK, HUGE)  # closed for evaluate too: the rule runs
        seen.append((verdict.code or "", verdict.reason or ""))
        await manager.shutdown()
        return seen

    seen = asyncio.run(run())
    assert [code for code, _ in seen] == [
        "GUARDRAIL_ERROR", "GUARDRAIL_ERROR", "GUARDRAIL_ERROR", "GUARDRAIL_ERROR", "BIG", "BIG"
    ]  # fmt: skip
    assert "failed" in seen[0][1] and "failed" in seen[1][1]
    assert "not run: circuit open" in seen[2][1] and "not run: circuit open" in seen[3][1]
    assert len(policy.breakers.states()) == 1  # one breaker for every path
    policy.flush()
    trip = sink.breakers[0]
    assert (trip.change, trip.request_id) == ("trip", "fresh")  # the call that tripped it
    assert [r.change for r in sink.breakers] == ["trip", "probe", "reset"]


def test_a_cpex_yaml_entry_takes_the_breaker_option(tmp_path):
    from cpex.framework import TenantPluginManager

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.rules").write_text(RULE.replace("breaker 3 in 1m cooldown 30s", ""))
    (tmp_path / "plugins.yaml").write_text(
        "plugins:\n  - name: g\n    kind: guardrails.cpex.RulesPlugin\n"
        f"    hooks: [{HOOK}]\n    mode: sequential\n    priority: 1\n"
        f"    config: {{rules: {rules}, breaker: {{failures: 2, cooldown_ms: 600000}}}}\n"
    )

    async def run() -> list[tuple[str, str]]:
        manager = TenantPluginManager(str(tmp_path / "plugins.yaml"))
        await manager.initialize()
        reused = GlobalContext(request_id="r")
        seen = [await through(manager, facts, reused) for facts in (BAD, BAD, HUGE)]
        await manager.shutdown()
        return seen

    seen = asyncio.run(run())
    assert "failed" in seen[1][1]
    assert seen[2][0] == "GUARDRAIL_ERROR" and "circuit open" in seen[2][1]


def test_trips_and_resets_land_in_a_jsonl_log(tmp_path: Path):
    log = tmp_path / "decisions.jsonl"
    clock = Clock()
    policy = guardrails.loads(
        RULE, "r.rules", breaker=Breakers(clock=clock), sinks=[JsonlSink(log)]
    )
    for _ in range(3):
        policy.evaluate(HOOK, {**BAD, "request_id": "req-1"})
    clock.now += 30
    policy.evaluate(HOOK, SMALL)
    policy.close()
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    breakers = [r for r in rows if r["kind"] == "breaker"]
    assert [(r["change"], r["previous"], r["state"]) for r in breakers] == [
        ("trip", "closed", "open"), ("probe", "open", "half_open"), ("reset", "half_open", "closed")
    ]  # fmt: skip
    trip = breakers[0]
    assert trip["rule"] == "big" and trip["breaker"].startswith("rule:big@")
    assert (trip["failures"], trip["window_ms"], trip["cooldown_ms"]) == (3, 60000, 30000)
    assert trip["request_id"] == "req-1" and trip["hook"] == HOOK
    assert trip["error"] == "RuntimeError"  # what failed, never what it said (it may quote)
    # the rollout report reads the same log without taking breaker rows for decisions
    from guardrails.tooling.rollout.counts import report

    assert {(s.rule, s.fired) for s in report([log]).rules} == {("big", 3)}


def test_breaker_changes_are_counted_in_otel_metrics():
    pytest.importorskip("opentelemetry.sdk.metrics")  # not in the gateway's venv
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from guardrails.adapters.otel import OtelMetricsSink

    reader = InMemoryMetricReader()
    clock = Clock()
    sink = OtelMetricsSink(MeterProvider(metric_readers=[reader]))
    policy = guardrails.loads(RULE, "r.rules", breaker=Breakers(clock=clock), sinks=[sink])
    for _ in range(3):
        policy.evaluate(HOOK, BAD)
    clock.now += 30
    policy.evaluate(HOOK, SMALL)
    policy.flush()
    counted = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == "guardrails.breaker.changes":
                    for point in metric.data.data_points:
                        counted[point.attributes["change"]] = point.value
    assert counted == {"trip": 1, "probe": 1, "reset": 1}


def test_a_set_that_cannot_be_applied_to_this_payload_is_not_counted():
    text = (
        "rule stamp on tool_pre_invoke breaker 1 in 1m cooldown 30s\n"
        '  when tool.name == "t" set tool.args.tag = "seen"\n'
    )
    policy, _, _ = load(text)
    verdict = policy.evaluate(HOOK, {"tool": {"name": "t", "args": "not a map"}})
    assert verdict.rule("stamp").verdict == "error"  # the set failed: fail closed
    assert state(policy) == "closed"  # but it says nothing about the rule's health
    assert policy.evaluate(HOOK, SMALL).rule("stamp").verdict == "modify"
