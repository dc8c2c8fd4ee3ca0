"""Rules that remember: the language (declarations, reads, `add`/`track`), the checker's
diagnostics, and the semantics of one hook call's state exchange, on the in-memory store."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

import guardrails
from guardrails.diagnostics import RulesError
from guardrails.runtime.engine import HookRunner
from guardrails.runtime.state import MemoryStore, Reading, StateError, StateFull, StateOp
from guardrails.tooling.fmt import format_text

HOUR = 3600.0
T0 = 1_800_000_000.0  # a whole hour: 2027-01-15T08:00:00Z


class CountingStore(MemoryStore):
    """A memory store that counts exchanges and can be told to fail."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.exchanges = 0
        self.fail: Exception | None = None

    def exchange(self, ops: Sequence[StateOp], now: float) -> list[Reading]:
        self.exchanges += 1
        if self.fail is not None:
            raise self.fail
        return super().exchange(ops, now)


def codes(text: str) -> list[str]:
    with pytest.raises(RulesError) as info:
        guardrails.loads(text)
    return [d.code for d in info.value.diagnostics]


def warnings(text: str) -> list[str]:
    return [d.code for d in guardrails.loads(text).warnings]


TOOL = "on tool_pre_invoke"


def call(policy: guardrails.Policy, name: str = "search", now: float = T0, **facts: object):
    facts.setdefault("user", "alice")
    facts.setdefault("session", "s1")
    return policy.evaluate(
        "tool_pre_invoke", {"tool": {"name": name, "args": facts.pop("args", {})}, **facts}, now=now
    )


RATE = """
counter calls per user, tool.name every 1m limit 3
rule count on tool_pre_invoke add 1 to calls
rule limit on tool_pre_invoke
  when calls >= calls.limit
  block "{calls.limit} calls a minute; {calls.left} left; resets in {calls.resets_in}s at {calls.resets_at}" code RATE
"""


# ---- semantics ----


def test_reads_see_the_state_before_the_call_and_blocked_calls_count():
    store = CountingStore()
    policy = guardrails.loads(RATE, state=store)
    outcomes = [call(policy).outcome for _ in range(5)]
    assert outcomes == ["allow", "allow", "allow", "block", "block"]
    blocked = call(policy, now=T0 + 30)
    assert blocked.code == "RATE"
    assert blocked.reason == ("3 calls a minute; 0 left; resets in 30s at 2027-01-15T08:01:00Z")
    assert store.exchanges == 6  # one exchange per hook call, though two rules touch state


def test_a_new_window_starts_afresh_and_keys_are_separate():
    policy = guardrails.loads(RATE)
    for _ in range(3):
        call(policy)
    assert call(policy).outcome == "block"
    assert call(policy, user="bob").outcome == "allow"  # another user
    assert call(policy, name="fetch").outcome == "allow"  # another tool
    assert call(policy, now=T0 + 60).outcome == "allow"  # the next minute
    assert call(policy, now=T0 + 59.9).outcome == "block"  # still the first one


def test_callers_without_the_key_fact_share_one_key():
    policy = guardrails.loads(RATE)
    for _ in range(3):
        assert call(policy, user=None).outcome == "allow"
    assert call(policy, user=None).outcome == "block"


def test_detail_shows_what_a_call_recorded():
    policy = guardrails.loads(RATE)
    verdict = call(policy)
    assert [(r.rule_id, r.verdict, r.changes) for r in verdict.rules] == [
        ("count", "record", ("calls",)),
        ("limit", "pass", ()),
    ]


def test_amounts_of_several_rules_add_up_in_one_exchange():
    store = CountingStore()
    policy = guardrails.loads(
        """
        counter used per user every 1h limit 100
        rule a on tool_pre_invoke add 10 to used
        rule b on tool_pre_invoke when tool.name == "big" add 40 to used
        rule c on tool_pre_invoke when tool.name == "never" add 1000 to used
        rule check on tool_pre_invoke when used > used.limit block "{used} used"
        """,
        state=store,
    )
    call(policy, "big")
    call(policy, "big")
    assert call(policy).outcome == "allow"  # 100 used before it: not over
    assert call(policy).reason == "110 used"
    assert store.exchanges == 4


def test_a_streak_counts_the_same_value_in_a_row():
    policy = guardrails.loads(
        """
        streak same per session of [tool.name, tool.args]
        rule track_it on tool_pre_invoke track same
        rule stuck on tool_pre_invoke when same >= 2 block "stuck on {tool.name}" code LOOP
        """
    )
    args = {"b": 1, "a": [1, 2]}
    assert call(policy, args=args).outcome == "allow"
    assert call(policy, args={"a": [1, 2], "b": 1}).outcome == "allow"  # key order is no change
    assert call(policy, args=args).code == "LOOP"
    assert call(policy, args=args).code == "LOOP"  # and every repeat after it
    assert call(policy, args={"a": 0}).outcome == "allow"  # another call breaks the streak
    assert call(policy, args=args).outcome == "allow"
    assert call(policy, args=args, session="s2").outcome == "allow"


def test_shadowed_and_audit_rules_still_record_once_per_call():
    store = CountingStore()
    policy = guardrails.loads(
        """
        counter emails per session limit 2
        rule count mode audit on tool_pre_invoke add 1 to emails
        rule limit on tool_pre_invoke when emails >= emails.limit block "no" code LIMIT
        """,
        state=store,
        shadow=["limit"],
    )
    verdicts = [call(policy) for _ in range(4)]
    assert [v.outcome for v in verdicts] == ["allow"] * 4
    assert [r.verdict for v in verdicts for r in v.rules if r.rule_id == "limit"] == [
        "pass", "pass", "would_block", "would_block"
    ]  # fmt: skip
    assert store.exchanges == 4


def test_counts_survive_a_reload_but_not_a_new_key_expression():
    text = RATE
    policy = guardrails.loads(text)
    for _ in range(3):
        call(policy)
    policy.reload(text.replace("limit 3", "limit 4"))  # a new limit keeps the counts
    assert call(policy).outcome == "allow"
    assert call(policy).outcome == "block"
    policy.reload(text.replace("per user, tool.name", "per tool.name, user"))  # a new key
    assert call(policy).outcome == "allow"


# ---- failing closed ----


def test_an_unreachable_store_blocks_the_stateful_rules_only():
    store = CountingStore()
    policy = guardrails.loads(
        RATE + 'rule stateless priority 1 on tool_pre_invoke when tool.name == "x" block "no"',
        state=store,
    )
    store.fail = ConnectionError("redis is down")
    verdict = call(policy)
    assert verdict.outcome == "block"
    assert {r.rule_id: r.verdict for r in verdict.rules} == {
        "stateless": "pass", "count": "error", "limit": "skipped"
    }  # fmt: skip
    assert "redis is down" in (verdict.reason or "")
    store.fail = None
    assert call(policy).outcome == "allow"  # service comes back with the store


def test_on_error_ignore_lets_a_call_through_when_the_store_is_down():
    store = CountingStore()
    policy = guardrails.loads(
        """
        counter calls per user every 1m limit 3
        rule count on_error ignore on tool_pre_invoke add 1 to calls
        rule limit on_error ignore on tool_pre_invoke when calls >= 3 block "no"
        """,
        state=store,
    )
    store.fail = StateError("timeout")
    verdict = call(policy)
    assert verdict.outcome == "allow"
    assert [r.verdict for r in verdict.rules] == ["error", "error"]


def test_a_bad_amount_fails_its_rule_and_the_others_still_record():
    policy = guardrails.loads(
        """
        counter used per user limit 5
        counter calls per user limit 100
        rule bad on tool_pre_invoke add tool.args.n to used
        rule good on tool_pre_invoke add 1 to calls
        rule show on tool_pre_invoke when calls >= 1 warn "{calls} calls"
        """
    )
    first = call(policy, args={"n": "many"})
    assert {r.rule_id: r.verdict for r in first.rules}["bad"] == "error"
    assert first.outcome == "block"  # a rule that records fails closed: it is not warn-only
    second = call(policy, args={"n": 2})
    assert {r.rule_id: (r.verdict, r.reason) for r in second.rules}["show"] == (
        "warn", "1 calls"
    )  # fmt: skip


def test_a_full_memory_store_refuses_new_keys_instead_of_evicting_live_ones():
    store = MemoryStore(max_keys=2)
    policy = guardrails.loads(RATE, state=store)
    assert call(policy, user="a").outcome == "allow"
    assert call(policy, user="b").outcome == "allow"
    third = call(policy, user="c")
    assert third.outcome == "block" and "live keys" in (third.reason or "")
    assert call(policy, user="a").outcome == "allow"  # known keys still count
    assert call(policy, user="c", now=T0 + 120).outcome == "allow"  # expired ones make room


def test_a_runner_without_the_hooks_plan_never_prepares_state_itself():
    policy = guardrails.loads(RATE)
    part = HookRunner("tool_pre_invoke", policy.programs("tool_pre_invoke"))
    verdict = part.run({"tool": {"name": "x"}, "user": "a"})
    assert verdict.outcome == "block"
    assert verdict.rules[0].verdict == "error"
    assert "not prepared" in (verdict.reason or "")


def test_memory_store_is_atomic_across_threads():
    store = MemoryStore()
    policy = guardrails.loads(
        """
        counter sends per session limit 50
        rule count on tool_pre_invoke add 1 to sends
        rule limit on tool_pre_invoke when sends >= sends.limit block "no"
        """,
        state=store,
        time_budget_ms=None,  # a thread kept from the GIL must not turn into a budget error
    )
    allowed: list[str] = []

    def worker() -> None:
        for _ in range(25):
            if call(policy).outcome == "allow":
                allowed.append("x")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(allowed) == 50


def test_a_full_store_error_is_a_state_error():
    assert issubclass(StateFull, StateError)


# ---- the checker ----


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("counter x per user\ncounter x per user", "GR0250"),
        ("let x = 1\ncounter x per user", "GR0250"),
        ("counter user per session", "GR0250"),
        ('counter x per user limit "ten"', "GR0251"),
        ("counter x per user limit tokens", "GR0251"),
        (f"{TOOL} add 1 to nothing", "GR0252"),
        (f"streak s of tool.name\n{TOOL} add 1 to s", "GR0252"),
        (f"counter c per user\n{TOOL} track c", "GR0252"),
        (f"counter c per user\n{TOOL} when c > 1 add 1 to c", "GR0253"),
        (f"counter c per user\ncounter d per c\n{TOOL} add 1 to d", "GR0253"),
        (f"counter c per user\n{TOOL} when c.left > 1 block", "GR0255"),
        (f"counter c per user\n{TOOL} when c.resets_in > 1 block", "GR0255"),
        (f"counter c per user every 1h\n{TOOL} when c.size > 1 block", "GR0255"),
        (f"streak s of tool.name\n{TOOL} when s.limit > 1 block", "GR0255"),
        (f"counter c per user every 1h every 2h\n{TOOL} add 1 to c", "GR0256"),
        (f"counter c per user every 1h keep 2h\n{TOOL} add 1 to c", "GR0256"),
        (f"counter c per user every 400d\n{TOOL} add 1 to c", "GR0257"),
        (f"counter c per user every 10ms\n{TOOL} add 1 to c", "GR0257"),
        (f'counter c per user\n{TOOL} add "one" to c', "GR0258"),
        (f'{TOOL} when tool.name == {{"a": tool.name}} block', "GR0243"),
        # a key names a fact the hook of the rule that uses it lacks
        ("counter c per tool.name\non generation_pre_call add 1 to c", "GR0201"),
    ],
)
def test_state_mistakes_are_diagnosed(text: str, code: str):
    assert code in codes(text)


def test_a_state_nobody_updates_or_reads_is_a_warning():
    assert "GR0310" in warnings(f"counter c per user\n{TOOL} when c > 1 block")
    assert "GR0311" in warnings(f"counter c per user\n{TOOL} add 1 to c")


def test_errors_point_at_the_state_and_say_how_to_fix_it():
    with pytest.raises(RulesError) as info:
        guardrails.loads("counter c per user\non tool_pre_invoke when c.left > 1 block")
    diag = next(d for d in info.value.diagnostics if d.code == "GR0255")
    assert (diag.span.line, diag.span.column) == (2, 25)
    assert "limit" in (diag.hint or "")


def test_maps_in_lets_and_lookup():
    policy = guardrails.loads(
        """
        let price = {"gpt-4o": 5, "mini": 0.5}
        rule pricey on generation_pre_call when lookup(price, model, 100) >= 5 block "no"
        """
    )
    outcome = {
        m: policy.evaluate("generation_pre_call", {"model": m, "prompt": "x"}).outcome
        for m in ("gpt-4o", "mini", "unknown", None)
    }
    assert outcome == {"gpt-4o": "block", "mini": "allow", "unknown": "block", None: "block"}


def test_the_formatter_writes_states_and_their_actions_back():
    text = (
        'let p = {"a": 1}\n\n'
        "counter c per user, tool.name every 1h limit 30\n\n"
        "counter d per session keep 7d\n\n"
        "streak s per session of [tool.name, tool.args]\n\n"
        "rule r\n  on tool_pre_invoke\n  add lookup(p, tool.name, 2) to c\n  add 1 to d\n"
        "  track s\n"
    )
    formatted, diags = format_text(text)
    assert not diags
    assert formatted == text
    assert guardrails.loads(text).rules


def test_keys_are_canonical_so_a_spelling_cannot_buy_a_fresh_budget():
    policy = guardrails.loads(
        """
        counter c per tool.args.id limit 2
        rule count on tool_pre_invoke add 1 to c
        rule limit on tool_pre_invoke when c >= c.limit block "no"
        """
    )
    assert call(policy, args={"id": 7}).outcome == "allow"
    assert call(policy, args={"id": 7.0}).outcome == "allow"
    assert call(policy, args={"id": 7}).outcome == "block"


def test_a_key_without_a_stable_text_fails_closed():
    policy = guardrails.loads(RATE)
    verdict = policy.evaluate("tool_pre_invoke", {"tool": {"name": "x"}, "user": object()}, now=T0)
    assert verdict.outcome == "block"
    assert "cannot be a object" in (verdict.reason or "")


def test_a_negative_amount_cannot_pay_a_budget_back():
    policy = guardrails.loads(
        """
        counter used per user limit 10
        rule count on tool_pre_invoke add tool.args.n to used
        rule limit on tool_pre_invoke when used >= used.limit block "over" code OVER
        """
    )
    assert call(policy, args={"n": 10}).outcome == "allow"
    refund = call(policy, args={"n": -10})
    assert refund.outcome == "block" and "negative" in (refund.reason or "")
    assert call(policy, args={"n": 0}).code == "OVER"


def test_a_rule_that_records_is_not_reported_as_shadowed_by_an_earlier_block():
    found = warnings(
        """
        counter tries per user limit 3
        rule deny priority 1 on tool_pre_invoke block "always"
        rule count on tool_pre_invoke add 1 to tries
        rule show on tool_pre_invoke when tries > 1 warn "again"
        """
    )
    assert "GR0302" in found  # `show` never runs
    policy = guardrails.loads(
        "counter tries per user\nrule deny priority 1 on tool_pre_invoke block\n"
        "rule count on tool_pre_invoke add 1 to tries\n"
        "rule see priority 0 on tool_pre_invoke when tries > 1 warn"
    )
    assert [d.code for d in policy.warnings if d.code == "GR0302"] == []
    outcomes = [call(policy).rules[0].verdict for _ in range(3)]
    assert outcomes == ["pass", "pass", "warn"]  # the blocked calls were counted


def test_the_exchange_and_the_rules_share_one_call_s_derived_facts():
    counted: list[str] = []

    def tokenizer(text: str) -> int:
        counted.append(text)
        return len(text)

    policy = guardrails.loads(
        """
        counter used per user every 1h limit 100
        rule count on generation_pre_call add tokens to used
        rule budget on generation_pre_call when tokens > used.left block "over"
        """,
        tokenizer=tokenizer,
    )
    verdict = policy.evaluate("generation_pre_call", {"prompt": "x" * 60, "user": "a"}, now=T0)
    assert verdict.outcome == "allow"
    assert len(counted) == 1  # the prompt was counted once, for both rules
    second = policy.evaluate("generation_pre_call", {"prompt": "y" * 60, "user": "a"}, now=T0)
    assert second.outcome == "block"


def test_state_sees_the_call_as_it_arrived_not_as_a_set_left_it():
    policy = guardrails.loads(
        """
        counter calls per tool.name limit 1
        rule rename priority 1 on tool_pre_invoke when tool.name == "shell" set tool.name = "safe"
        rule count on tool_pre_invoke add 1 to calls
        rule limit on tool_pre_invoke when calls >= calls.limit block "again: {tool.name}"
        """
    )
    assert call(policy, "shell").outcome == "modify"
    second = call(policy, "shell")  # counted under `shell`, though the rules saw `safe`
    assert second.outcome == "block" and second.reason == "again: safe"
    assert call(policy, "safe").outcome == "allow"
