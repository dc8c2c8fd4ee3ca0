"""Host functions: typed from annotations, checked like built-ins, called under a
timeout, cached per hook call, failing closed, their notes in decision records."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping
from typing import Any

import pytest

import guardrails
from guardrails import Answer
from guardrails.records import MemorySink

HOOK = "tool_pre_invoke"


def facts(name: str = "t", **args: Any) -> dict[str, Any]:
    return {"tool": {"name": name, "args": args}}


@guardrails.function(timeout_ms=500)
def reputation(domain: str) -> float:
    return 0.1 if domain.endswith(".evil") else 0.9


def tags(names: list[str], extra: dict[str, Any] | None = None) -> list[str]:
    return sorted({n.lower() for n in names})


# ---- signatures and the checker ----


def test_signature_comes_from_annotations():
    fn = guardrails.function(tags).__guardrails_function__
    assert fn.signature() == "tags(names: list[str], extra: map|null) -> list[str]"
    assert fn.arity == (1, 2)


@pytest.mark.parametrize(
    ("fn", "words"),
    [
        (lambda x: True, "no type annotation"),
        (lambda: True, "no return annotation"),
    ],
)
def test_unannotated_functions_are_refused_at_load(fn, words):
    fn.__annotations__ = {"return": bool} if "type" in words else {}
    with pytest.raises(guardrails.GuardrailsError, match=words):
        guardrails.loads("rule r on tool_pre_invoke block", functions={"f": fn})


def test_unsupported_annotation_and_builtin_name_are_refused():
    def custom(x: threading.Lock) -> bool:  # a type the rules have none for
        return True

    with pytest.raises(guardrails.GuardrailsError, match="no type for"):
        guardrails.loads("rule r on tool_pre_invoke block", functions=[custom])
    with pytest.raises(guardrails.GuardrailsError, match="name of a built-in"):
        guardrails.loads("rule r on tool_pre_invoke block", functions={"lower": reputation})


def _errors(text: str, **options: Any) -> list[tuple[str, int, int, str]]:
    with pytest.raises(guardrails.RulesError) as info:
        guardrails.loads(text, "h.rules", **options)
    return [(d.code, d.line, d.column, f"{d.message} {d.hint}") for d in info.value.diagnostics]


def test_calls_are_typed_like_builtins():
    fns = {"functions": [reputation, tags]}
    ((code, line, col, text),) = _errors(
        "on tool_pre_invoke when reputation(1) < 0.5 block\n", **fns
    )
    assert (code, line, col) == ("GR0212", 1, 36) and "needs a string for domain" in text
    ((code, _, col, text),) = _errors("on tool_pre_invoke when reputation() < 0.5 block\n", **fns)
    assert (code, col) == ("GR0204", 25) and "takes 1 argument" in text
    ((code, _, col, text),) = _errors(
        'on tool_pre_invoke when reputation("a") == "x" block\n', **fns
    )
    assert code == "GR0210" and "float == str" in text  # the result is typed too
    ((code, _, col, text),) = _errors(
        "on tool_pre_invoke when reputaton(tool.name) < 1 block\n", **fns
    )
    assert (code, col) == ("GR0203", 25) and "did you mean 'reputation'" in text


def test_unknown_function_hints_at_host_functions():
    ((code, _, _, text),) = _errors("on tool_pre_invoke when zzz(tool.name) block\n")
    assert code == "GR0203" and "functions=[fn]" in text and "--functions" in text


def test_the_judge_is_declared_without_a_client_and_then_fails_closed():
    text = 'rule r on agent_post_invoke when judge("ok?", output) warn "fine"\n'
    policy = guardrails.loads(text, "j.rules")
    (warning,) = policy.warnings
    assert (warning.code, warning.line, warning.column) == ("GR0321", 1, 34)
    assert "judge=" in warning.hint
    (result,) = policy.evaluate("agent_post_invoke", {"output": "x"}).rules
    assert result.verdict == "error" and "loaded without a judge" in result.error
    assert guardrails.loads(text, judge=lambda prompt: "YES").warnings == ()


def test_no_host_calls_where_state_is_worked_out():
    text = (
        "counter c per user\n"
        "rule a on tool_pre_invoke when reputation(tool.name) < 0.5 add 1 to c\n"
        "rule b on tool_pre_invoke when c > 3 block\n"
    )
    ((code, line, col, _),) = _errors(text, functions=[reputation])
    assert (code, line, col) == ("GR0265", 2, 32)
    keyed = "counter c per reputation(tool.name)\nrule a on tool_pre_invoke add 1 to c\n" \
        "rule b on tool_pre_invoke when c > 3 block\n"  # fmt: skip
    assert [e[0] for e in _errors(keyed, functions=[reputation])] == ["GR0265"]


def test_check_and_the_cli_take_functions(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from guardrails.tooling.cli import main

    rules = tmp_path / "h.rules"
    rules.write_text("on tool_pre_invoke when reputation(tool.name) < 0.5 block\n")
    assert [d.code for d in guardrails.check(rules)] == ["GR0203"]
    assert guardrails.check(rules, functions=[reputation]) == []
    (tmp_path / "myfuncs.py").write_text(
        "import guardrails\n@guardrails.function\ndef reputation(d: str) -> float:\n  return 1.0\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = CliRunner().invoke(main, ["check", str(rules)])
    assert out.exit_code == 1 and "--functions" in out.output
    out = CliRunner().invoke(main, ["check", str(rules), "--functions", "myfuncs"])
    assert out.exit_code == 0, out.output
    out = CliRunner().invoke(main, ["check", str(rules), "--functions", "nosuchmod:x"])
    assert out.exit_code == 2 and "cannot import" in out.output
    # eval runs them: the module's reputation() says 1.0, so the call is allowed
    (tmp_path / "call.json").write_text('{"tool": {"name": "example.com"}}')
    args = ["eval", str(rules), "--hook", "tool_pre_invoke", "--payload", "call.json"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 1 and "GR0203" in out.output
    out = CliRunner().invoke(main, [*args, "--functions", "myfuncs", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["outcome"] == "allow"


# ---- running ----


def test_a_call_decides_and_null_arguments_are_not_passed():
    seen: list[Any] = []

    def grade(domain: str) -> float:
        seen.append(domain)
        return reputation(domain)

    policy = guardrails.loads(
        'on tool_pre_invoke when grade(tool.args.d) < 0.5 block "bad {tool.args.d}"\n',
        functions=[grade],
    )
    assert policy.evaluate(HOOK, facts(d="x.evil")).reason == "bad x.evil"
    assert policy.evaluate(HOOK, facts(d="x.org")).outcome == "allow"
    assert policy.evaluate(HOOK, facts()).outcome == "allow"  # null: not called, null < 0.5 false
    assert seen == ["x.evil", "x.org"]
    verdict = policy.evaluate(HOOK, facts(d=5))  # a fact typed any holding an int
    assert verdict.outcome == "block" and "needs str for domain, got int" in verdict.rules[0].error


def test_equal_calls_run_once_per_hook_call():
    calls: list[str] = []

    def slow_check(text: str) -> bool:
        calls.append(text)
        return text == "bad"

    policy = guardrails.loads(
        "rule a on tool_pre_invoke mode audit when slow_check(tool.name) block\n"
        "rule b on tool_pre_invoke when slow_check(tool.name) and tool.args.x == 1 block\n"
        "rule c on tool_pre_invoke when slow_check(lower(tool.name)) warn\n",
        functions=[slow_check],
    )
    verdict = policy.evaluate(HOOK, facts("bad", x=1))
    assert verdict.blocked_by == "b" and calls == ["bad"]
    policy.evaluate(HOOK, facts("bad", x=1))
    assert calls == ["bad", "bad"]  # a new hook call asks again


def test_exceptions_and_timeouts_fail_closed_and_on_error_ignore_lets_through():
    release = threading.Event()

    def hangs(text: str) -> bool:
        release.wait(5)
        return False

    def breaks(text: str) -> bool:
        raise ConnectionError("model down")

    functions = [guardrails.function(hangs, timeout_ms=50), breaks]
    policy = guardrails.loads(
        'rule h on tool_pre_invoke when tool.name == "h" and hangs(tool.name) block\n'
        'rule b on tool_pre_invoke when tool.name == "b" and breaks(tool.name) block\n'
        'rule i on tool_pre_invoke on_error ignore when tool.name == "i" and breaks(tool.name) block\n',
        functions=functions,
    )
    try:
        verdict = policy.evaluate(HOOK, facts("h"))
        assert verdict.blocked_by == "h"
        assert verdict.rules[0].error == "hangs() timed out after 50 ms (its timeout_ms)"
        verdict = policy.evaluate(HOOK, facts("b"))
        assert verdict.blocked_by == "b"
        assert verdict.rules[1].error == "breaks() failed: ConnectionError: model down"
        verdict = policy.evaluate(HOOK, facts("i"))
        assert verdict.outcome == "allow" and verdict.rule("i").verdict == "error"
    finally:
        release.set()


def test_the_time_budget_caps_the_timeout():
    release = threading.Event()

    def hangs(text: str) -> bool:
        release.wait(5)
        return False

    policy = guardrails.loads(
        "on tool_pre_invoke when hangs(tool.name) block\n",
        functions=[guardrails.function(hangs, timeout_ms=5000)],
        time_budget_ms=40,
    )
    try:
        (result,) = policy.evaluate(HOOK, facts()).rules
        assert result.verdict == "error" and "raise load(time_budget_ms=...)" in result.error
    finally:
        release.set()


def test_wrong_result_type_is_an_error():
    def lies(text: str) -> bool:
        return "yes"  # type: ignore[return-value]

    policy = guardrails.loads("on tool_pre_invoke when lies(tool.name) block\n", functions=[lies])
    (result,) = policy.evaluate(HOOK, facts()).rules
    assert result.error == "lies() returned str, declared bool"


def test_arguments_are_copies_the_function_may_change():
    def mutate(args: dict[str, Any]) -> bool:
        args["cmd"] = "changed"
        return False

    policy = guardrails.loads(
        "on tool_pre_invoke when mutate(tool.args) block\n", functions=[mutate]
    )
    given = facts(cmd="ls")
    policy.evaluate(HOOK, given)
    assert given["tool"]["args"] == {"cmd": "ls"}


def test_notes_land_in_the_decision_record():
    sink = MemorySink()

    def grounded(text: str) -> Answer[bool]:
        return Answer(text.startswith("per the docs"), note=f"checked {len(text)} chars")

    policy = guardrails.loads(
        "rule g on tool_pre_invoke when not grounded(tool.name) block\n",
        functions=[grounded],
        sinks=[sink],
    )
    policy.evaluate(HOOK, facts("made up"))
    policy.flush()
    (record,) = sink.records
    assert record.notes == ("checked 7 chars",)
    assert record.to_dict()["notes"] == ["checked 7 chars"]


def test_async_function_from_a_sync_caller_runs_on_a_private_loop():
    async def scores(text: str) -> int:
        await asyncio.sleep(0)
        return len(text)

    policy = guardrails.loads(
        "on tool_pre_invoke when scores(tool.name) > 3 block\n", functions=[scores]
    )
    assert policy.evaluate(HOOK, facts("long name")).outcome == "block"
    assert policy.evaluate(HOOK, facts("ab")).outcome == "allow"


def test_explain_shows_the_call(tmp_path):
    from guardrails.tooling.explain import explain

    policy = guardrails.loads(
        "rule r on tool_pre_invoke when reputation(tool.args.d) < 0.5 block\n",
        functions=[reputation],
    )
    verdict = policy.evaluate(HOOK, facts(d="a.evil"))
    text = explain(policy, HOOK, facts(d="a.evil"), verdict)
    assert "reputation(tool.args.d) < 0.5  -> true" in text


def _mapping_is_map(value: Mapping[str, Any]) -> int:
    return len(value)


def test_mapping_and_optional_annotations():
    fn = guardrails.function(_mapping_is_map, name="size").__guardrails_function__
    assert fn.signature() == "size(value: map) -> int" and fn.timeout_ms == 1000


def test_generated_code_calls_a_plain_global():
    policy = guardrails.loads(
        "on tool_pre_invoke when reputation(tool.name) < 0.5 block\n", functions=[reputation]
    )
    assert "_h_reputation(c, " in policy.generated_source
    assert "_h_reputation" not in guardrails.loads("on tool_pre_invoke block\n").generated_source


class _Scorer:
    def __call__(self, text: str) -> int:
        return len(text)


def test_callable_objects_and_bad_functions_values():
    policy = guardrails.loads(
        "on tool_pre_invoke when score(tool.name) > 3 block\n", functions={"score": _Scorer()}
    )
    assert policy.evaluate(HOOK, facts("long")).outcome == "block"
    with pytest.raises(guardrails.GuardrailsError, match="takes functions"):
        guardrails.loads("on tool_pre_invoke block\n", functions="reputation")


def test_inline_functions_run_in_the_rules_thread():
    threads: list[int] = []

    def listed(name: str) -> bool:
        threads.append(threading.get_ident())
        return name == "bad"

    marked = guardrails.function(listed, inline=True)
    policy = guardrails.loads(
        "on tool_pre_invoke when listed(tool.name) block\n", functions=[marked]
    )
    assert policy.evaluate(HOOK, facts("bad")).outcome == "block"
    assert threads == [threading.get_ident()]

    def timed(name: str) -> bool:
        return True

    with pytest.raises(TypeError, match="no timeout of its own"):  # at decoration
        guardrails.function(timed, inline=True, timeout_ms=5)


def test_a_failing_function_has_a_breaker_of_its_own_with_the_breaker_option():
    from guardrails.records import MemorySink

    calls: list[str] = []

    def breaks(name: str) -> bool:
        calls.append(name)
        raise ConnectionError("service down")

    sink = MemorySink()
    policy = guardrails.loads(
        'rule a on tool_pre_invoke breaker off when tool.name == "a" and breaks(tool.name) block\n'
        'rule b on tool_pre_invoke breaker off when tool.name == "b" and breaks(tool.name) block\n',
        functions=[breaks],
        breaker={"failures": 2, "window_ms": 60_000, "cooldown_ms": 60_000},
        sinks=[sink],
    )
    policy.evaluate(HOOK, facts("a"))
    policy.evaluate(HOOK, facts("a"))  # the second failure trips the function's breaker
    verdict = policy.evaluate(HOOK, facts("b"))  # another rule, another argument
    assert calls == ["a", "a"]  # not called: the breaker answered
    assert (
        verdict.blocked_by == "b" and "breaks() not called: circuit open" in verdict.rule("b").error
    )
    policy.flush()
    trips = [r for r in sink.breakers if r.breaker == "function:breaks"]
    assert trips and trips[0].to_dict()["change"] == "trip"
    # without the option, a function has no breaker: every call is made
    plain = guardrails.loads(
        "rule a on tool_pre_invoke when breaks(tool.name) block\n", functions=[breaks]
    )
    for _ in range(3):
        plain.evaluate(HOOK, facts("c"))
    assert calls[2:] == ["c", "c", "c"]
