"""Every host path gives the outcome `Policy.evaluate` gives, on random rules and payloads.

Random rule sets mix modes, priorities, `on_error`, `set`, `redact`, blocks, warnings
and rules that fail at run time; each payload goes through `evaluate`, a real cpex
manager with a fresh GlobalContext per call (its priorities fused into one plugin per
mode), the same manager with one GlobalContext reused for every call (as a gateway
does per request), one with a plugin per (mode, priority), and cpex's YAML loader with one
`guardrails.cpex.RulesPlugin` entry per mode. All must agree on allow / block (by
which rule) / the rewritten arguments.

Rules that remember (counters, streaks) are checked over a sequence of calls, each
path with a store of its own: the same outcome call after call means every path
counted each call exactly once and read the state as it was before the call.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

from cpex.framework import (
    GlobalContext,
    PluginError,
    TenantPluginManager,
    ToolPreInvokePayload,
)
from cpex.framework.models import Config
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import guardrails
import guardrails.cpex

logging.getLogger("cpex").setLevel(logging.CRITICAL)
logging.getLogger("guardrails.cpex").setLevel(logging.CRITICAL)

HOOK = "tool_pre_invoke"
MODES = ("sequential", "transform", "audit", "concurrent", "fire_and_forget")
CONDITIONS = (
    "",
    'when tool.args.cmd == "a"',
    'when tool.args.cmd != "b"',
    'when tool.name in ["x", "y"]',
    'when text(tool.args) contains "b"',
    "when tool.args.n > 2",
    'when tool.args.cmd == "a" and tool.args.n < 3',
    'when normalize(tool.args.cmd) == "c"',
    "when tool.args.n > 1.5 or tool.args.cmd == null",
    'when any v in values(tool.args): text(v) contains "a"',
    'when count(k in keys(tool.args): k == "n" or k == "cmd") > 1',
)
ACTIONS = {
    "block": 'block "stop" code C_{i}',
    "warn": 'warn "look" code W_{i}',
    "set_a": 'set tool.args.cmd = "a"',
    "set_b": 'set tool.args.cmd = "b"',
    "set_n": "set tool.args.n = 5",
    "redact": 'redact tool.args /[ab]/ with "c"',
}
CAN_BLOCK = {"sequential", "concurrent", "audit"}
CAN_CHANGE = {"sequential", "transform"}


@st.composite
def rule_sets(draw: Any) -> str:
    lines = []
    for i in range(draw(st.integers(1, 6))):
        mode = draw(st.sampled_from(MODES))
        choices = [a for a in ACTIONS if (a != "block" or mode in CAN_BLOCK)]
        choices = [a for a in choices if not a.startswith(("set", "redact")) or mode in CAN_CHANGE]
        action = ACTIONS[draw(st.sampled_from(choices))].format(i=i)
        condition = draw(st.sampled_from(CONDITIONS))
        priority = draw(st.integers(1, 3))
        on_error = draw(st.sampled_from(["", "on_error ignore "]))
        lines.append(
            f"rule r{i} on {HOOK} mode {mode} priority {priority} {on_error}{condition} {action}"
        )
    return "\n".join(lines) + "\n"


payloads = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["x", "y", "z"]),
        "args": st.fixed_dictionaries(
            {},
            optional={
                "cmd": st.sampled_from(["a", "b", "c", "\uff23", "ab"]),
                "n": st.one_of(st.integers(0, 4), st.sampled_from([2.5, "two"])),
            },
        ),
    }
)


def expected(policy: guardrails.Policy, payload: dict[str, Any]) -> tuple[Any, ...]:
    verdict = policy.evaluate(HOOK, {"tool": payload})
    if verdict.outcome == "block":
        return ("block", verdict.blocked_by)
    args = verdict.payload["tool"].get("args") if verdict.outcome == "modify" else None
    return ("allow", args if args != payload["args"] else None)


async def through(manager: Any, payload: dict[str, Any], gctx: GlobalContext) -> tuple[Any, ...]:
    try:
        result, _ = await manager.invoke_hook(HOOK, ToolPreInvokePayload(**payload), gctx)
    except PluginError as err:  # a failing transform rule: cpex aborts the call
        if "GUARDRAIL_STALE" in str(err):
            return ("block", None)
        found = re.search(r"rule (\w+) failed", str(err))
        return ("block", found.group(1) if found else str(err))
    if not result.continue_processing:
        return ("block", result.violation.details.get("rule"))  # None: GUARDRAIL_STALE
    modified = result.modified_payload
    args = dict(modified.args) if modified is not None and modified.args is not None else None
    return ("allow", args if args != payload["args"] else None)


def yaml_manager(folder: Path, text: str, shadow: list[str] | None = None) -> Any:
    (folder / "rules").mkdir(exist_ok=True)
    (folder / "rules" / "r.rules").write_text(text)
    entries = "".join(
        f"  - name: g-{mode}\n    kind: guardrails.cpex.RulesPlugin\n    hooks: [{HOOK}]\n"
        f"    mode: {mode}\n    priority: 1\n"
        f"    config: {{rules: {folder / 'rules'}, others: skip, shadow: {shadow or False}}}\n"
        for mode in sorted({m for m in MODES if f"mode {m} " in text})
    )
    (folder / "plugins.yaml").write_text("plugins:\n" + entries)
    return TenantPluginManager(str(folder / "plugins.yaml"))


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=rule_sets(), batch=st.lists(payloads, min_size=1, max_size=4))
def test_every_host_path_agrees_with_evaluate(tmp_path_factory, text, batch):
    try:
        policy = guardrails.loads(text, "r.rules", time_budget_ms=None)
    except guardrails.RulesError:
        assume(False)
        return
    want = [expected(policy, p) for p in batch]

    async def hosts() -> dict[str, list[tuple[Any, ...]]]:
        manager = await policy.manager(timeout=5)
        exact = await policy.manager(timeout=5, fuse=False)
        yaml = yaml_manager(tmp_path_factory.mktemp("yaml"), text)
        await yaml.initialize()
        reused = GlobalContext(request_id="shared")
        seen: dict[str, list[tuple[Any, ...]]] = {
            "fresh": [],
            "reused": [],
            "exact": [],
            "yaml": [],
        }
        for i, payload in enumerate(batch):
            seen["fresh"].append(await through(manager, payload, GlobalContext(request_id=str(i))))
            seen["reused"].append(await through(manager, payload, reused))
            seen["exact"].append(await through(exact, payload, GlobalContext(request_id=f"e{i}")))
            seen["yaml"].append(await through(yaml, payload, GlobalContext(request_id=str(i))))
        await yaml.shutdown()
        return seen

    for host, got in asyncio.run(hosts()).items():
        assert got == want, f"{host} disagrees with evaluate on\n{text}\n{batch}"


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(old=rule_sets(), new=rule_sets(), batch=st.lists(payloads, min_size=4, max_size=12))
def test_calls_racing_a_reload_are_decided_wholly_by_one_version(old, new, batch):
    """Calls already queued when a reload lands, and calls after it, each agree with
    `evaluate` under the old rules or under the new ones: in a manager the policy
    registered into, and with plugins handed to a host (which may instead refuse
    with GUARDRAIL_STALE when the new rules no longer fit them)."""
    try:
        policy = guardrails.loads(old, "r.rules", time_budget_ms=None)
        under_new = guardrails.loads(new, "r.rules", time_budget_ms=None)
    except guardrails.RulesError:
        assume(False)
        return
    allowed = [[expected(policy, p), expected(under_new, p)] for p in batch]
    stale = ("block", None)

    async def race() -> tuple[list[Any], list[Any]]:
        managed = await policy.manager(timeout=5)
        handed = TenantPluginManager(Config(plugins=[]), timeout=5)
        await handed.initialize()
        for plugin in policy.plugins():
            handed._registry.register(plugin)

        async def reload_soon() -> None:
            await asyncio.sleep(0)
            policy.reload(new)

        calls = [through(managed, p, GlobalContext(request_id=str(i))) for i, p in enumerate(batch)]
        handed_calls = [
            through(handed, p, GlobalContext(request_id=f"h{i}")) for i, p in enumerate(batch)
        ]
        results = await asyncio.gather(reload_soon(), *calls, *handed_calls)
        return list(results[1 : 1 + len(batch)]), list(results[1 + len(batch) :])

    managed_seen, handed_seen = asyncio.run(race())
    for i, got in enumerate(managed_seen):
        assert got in allowed[i], f"managed call {i}: {got} not in {allowed[i]}\n{old}\n{new}"
    for i, got in enumerate(handed_seen):
        assert got in allowed[i] or got == stale, f"handed call {i}: {got}\n{old}\n{new}"


# ---- rules that remember ----

STATES = """
counter calls per session limit 2
counter weight per session, tool.name
streak same per session of [tool.name, tool.args.cmd]
"""
# the last fails on a call whose `n` is missing or not a number
RECORDS = ("add 1 to calls", "add 2 to weight", "track same", "add tool.args.n to weight")
READS = {  # condition on a state -> the state it reads
    "when calls >= calls.limit": "calls",
    'when calls.left < 1 and tool.name == "x"': "calls",
    "when weight > 3": "weight",
    "when same >= 1": "same",
}


@st.composite
def stateful_sets(draw: Any) -> tuple[str, list[str], dict[str, tuple[str, str]]]:
    """(rules text, the ids to shadow, id -> (mode, what the rule does to which state))."""
    lines, uses = [STATES], {}
    one_mode = draw(st.sampled_from([None, "sequential", "concurrent"]))
    for i in range(draw(st.integers(2, 7))):
        mode = one_mode or draw(st.sampled_from(MODES))
        priority = draw(st.integers(1, 3))
        head = f"rule s{i} on {HOOK} mode {mode} priority {priority}"
        first = ("record", "read")[i] if i < 2 else None  # every set counts and reads
        kind = first or draw(st.sampled_from(["read", "record", "read", "plain"]))
        if kind == "record":
            action = draw(st.sampled_from(RECORDS[: 3 if draw(st.integers(0, 3)) else 4]))
            condition = draw(st.sampled_from(["", *CONDITIONS[1:4]]))
            lines.append(f"{head} {condition} {action}")
            uses[f"s{i}"] = (mode, "record " + action.split()[-1])
        elif kind == "read":
            recorded = [u.split()[1] for _, u in uses.values() if u.startswith("record")]
            fitting = sorted(c for c in READS if i > 1 or READS[c] in recorded)
            condition = draw(st.sampled_from(fitting))
            verb = (
                draw(st.sampled_from(["block", "block", "warn"])) if mode in CAN_BLOCK else "warn"
            )
            lines.append(f'{head} {condition} {verb} "s{i} {{tool.name}}" code S_{i}')
            uses[f"s{i}"] = (mode, "read " + READS[condition])
        else:
            choices = [a for a in ACTIONS if (a != "block" or mode in CAN_BLOCK)]
            choices = [
                a for a in choices if not a.startswith(("set", "redact")) or mode in CAN_CHANGE
            ]
            action = ACTIONS[draw(st.sampled_from(choices))].format(i=i)
            lines.append(f"{head} {draw(st.sampled_from(CONDITIONS))} {action}")
    shadow = draw(st.lists(st.sampled_from(sorted(uses)), max_size=1))
    return "\n".join(lines) + "\n", shadow, uses


def yaml_refuses(uses: dict[str, tuple[str, str]], modes: set[str]) -> bool:
    """Whether one entry per mode (`yaml_manager`) counts wrong, so cpex's loader must
    refuse it: a state recorded in one entry and read in another, or recorded in an
    entry that runs after an entry that can stop the call."""
    recorders = {(u.split()[1], m) for m, u in uses.values() if u.startswith("record")}
    readers = {(u.split()[1], m) for m, u in uses.values() if u.startswith("read")}
    enforced = {m for m in modes if m in ("sequential", "transform", "concurrent")}
    for state, mode in recorders:
        if any(s == state and m != mode for s, m in readers):
            return True
        if any(MODES.index(m) < MODES.index(mode) for m in enforced):
            return True
    return False


# few names and values, so that states build up within a sequence
state_payloads = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["x", "y"]),
        "args": st.fixed_dictionaries(
            {"cmd": st.sampled_from(["a", "b"])},
            optional={"n": st.one_of(st.integers(0, 4), st.just("two"))},
        ),
    }
)
sessions = st.lists(
    st.tuples(state_payloads, st.sampled_from(["s1", "s1", "s2", None])), min_size=3, max_size=8
)


def facts_of(payload: dict[str, Any], session: str | None) -> dict[str, Any]:
    return {"tool": payload, **({"session": session} if session else {})}


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=stateful_sets(), calls=sessions)
def test_stateful_rules_agree_on_every_path_call_after_call(tmp_path_factory, drawn, calls):
    text, shadow, uses = drawn
    try:
        policies = [
            guardrails.loads(text, "r.rules", shadow=shadow, time_budget_ms=None) for _ in range(3)
        ]
    except (guardrails.RulesError, guardrails.GuardrailsError):
        assume(False)
        return
    reference = policies[0]
    want = []
    for payload, session in calls:
        verdict = reference.evaluate(HOOK, facts_of(payload, session))
        args = verdict.payload["tool"].get("args") if verdict.outcome == "modify" else None
        if verdict.outcome == "block":
            want.append(("block", verdict.blocked_by))
        else:
            want.append(("allow", args if args != payload["args"] else None))
    modes = {m for m in MODES if f"mode {m} " in text}

    def context(i: int, session: str | None) -> GlobalContext:
        return GlobalContext(request_id=str(i), metadata={"session_id": session or ""})

    async def hosts() -> tuple[dict[str, list[tuple[Any, ...]]], bool]:
        fresh = await policies[1].manager(timeout=5)
        reused_manager = await policies[2].manager(timeout=5)
        folder = tmp_path_factory.mktemp("yaml")
        yaml = yaml_manager(folder, text, shadow)
        try:
            await yaml.initialize()
        except guardrails.cpex.ConfigRefused as refused:
            assert "state" in str(refused), refused
            yaml = None
        reused = GlobalContext(request_id="shared")
        seen: dict[str, list[tuple[Any, ...]]] = {"fresh": [], "reused": [], "yaml": []}
        for i, (payload, session) in enumerate(calls):
            seen["fresh"].append(await through(fresh, payload, context(i, session)))
            reused.metadata["session_id"] = session or ""
            seen["reused"].append(await through(reused_manager, payload, reused))
            if yaml is not None:
                seen["yaml"].append(await through(yaml, payload, context(i, session)))
        if yaml is not None:
            await yaml.shutdown()
        else:
            del seen["yaml"]
        return seen, yaml is None

    seen, refused = asyncio.run(hosts())
    blocks = sum(w[0] == "block" and w[1] in uses for w in want)
    event(f"calls a stateful rule blocks: {blocks}" + (" (YAML refused)" if refused else ""))
    assert refused == yaml_refuses(uses, modes), f"YAML refused={refused} for\n{text}"
    for host, got in seen.items():
        assert got == want, f"{host} disagrees with evaluate on\n{text}shadow {shadow}\n{calls}"


class _DownStore:
    """A state store that cannot be reached (Redis down): every exchange fails."""

    def exchange(self, ops: Any, now: float) -> Any:
        raise ConnectionError("store unreachable")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=stateful_sets(), calls=sessions)
def test_with_the_store_down_every_path_agrees_with_evaluate(drawn, calls):
    """Fail closed the same way everywhere: a call the index rules the stateful rules
    out for is decided on the store's failure in cpex as in `Policy.evaluate`."""
    text, shadow, _ = drawn
    try:
        reference, hosted = (
            guardrails.loads(
                text, "r.rules", shadow=shadow, time_budget_ms=None, state=_DownStore()
            )
            for _ in range(2)
        )
    except (guardrails.RulesError, guardrails.GuardrailsError):
        assume(False)
        return
    want = []
    for payload, session in calls:
        verdict = reference.evaluate(HOOK, facts_of(payload, session))
        args = verdict.payload["tool"].get("args") if verdict.outcome == "modify" else None
        blocked = ("block", verdict.blocked_by)
        want.append(
            blocked
            if verdict.outcome == "block"
            else ("allow", args if args != payload["args"] else None)
        )

    async def cpex() -> list[tuple[Any, ...]]:
        manager = await hosted.manager(timeout=5)
        return [
            await through(
                manager, payload, GlobalContext(request_id=str(i), metadata={"session_id": s or ""})
            )
            for i, (payload, s) in enumerate(calls)
        ]

    assert asyncio.run(cpex()) == want, (
        f"cpex disagrees with evaluate on\n{text}shadow {shadow}\n{calls}"
    )
