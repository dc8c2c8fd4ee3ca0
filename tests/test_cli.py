"""The `guardrails` command, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "guardrails", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=60,
    )


def test_check_clean_project_rules():
    proc = run("check", "rules/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no problems" in proc.stdout


def test_check_reports_errors_with_exit_1(tmp_path):
    bad = tmp_path / "bad.rules"
    bad.write_text(
        "on generation_pre_call when tokens > 'x' block\non tool_pre_invoke when tool.nme == 1 block\n"
    )
    proc = run("check", str(bad))
    assert proc.returncode == 1
    assert f"{bad}:1:36: error[GR0210]" in proc.stdout
    assert f"{bad}:2:25: error[GR0201]" in proc.stdout
    assert "did you mean 'tool.name'?" in proc.stdout
    assert proc.stdout.rstrip().endswith("2 errors, 0 warnings")


def test_check_reports_limits_as_diagnostics_not_tracebacks(tmp_path):
    bad = tmp_path / "limits.rules"
    chain = "".join(f"let a{i} = a{i - 1}\n" for i in range(1, 200))
    bad.write_text(
        "on generation_pre_call when prompt matches /a{99999999999}/ block\n"
        f"on generation_pre_call when tokens > {'9' * 5000} block\n"
        f"let a0 = 1\n{chain}on generation_pre_call when tokens > a199 block\n"
    )
    proc = run("check", str(bad))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    for where in ("1:46: error[GR0220]", "2:38: error[GR0109]", "103:12: error[GR0242]"):
        assert f"{bad}:{where}" in proc.stdout


def test_check_json_format(tmp_path):
    bad = tmp_path / "bad.rules"
    bad.write_text("let unused = 1\non generation_precall block\n")
    proc = run("check", "--format", "json", str(bad))
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert [(d["code"], d["severity"], d["line"], d["column"]) for d in data] == [
        ("GR0300", "warning", 1, 5),
        ("GR0200", "error", 2, 4),
    ]


def test_check_warnings_only_exit_0(tmp_path):
    ok = tmp_path / "ok.rules"
    ok.write_text("let unused = 1\non generation_pre_call block\n")
    proc = run("check", str(ok))
    assert proc.returncode == 0
    assert "warning[GR0300]" in proc.stdout


def test_eval_from_file_text_and_json(tmp_path):
    payload = tmp_path / "p.json"
    payload.write_text(
        json.dumps({"tool": {"name": "shell", "args": {"cmd": "ls"}}, "user": "guest"})
    )
    proc = run("eval", "rules/", "--hook", "tool_pre_invoke", "--payload", str(payload))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(
        "tool_pre_invoke: BLOCK by dangerous_tools_for_operators [TOOL_DENIED]"
    )
    proc = run(
        "eval", "rules/", "--hook", "tool_pre_invoke", "--payload", str(payload), "--format", "json"
    )
    data = json.loads(proc.stdout)
    assert data["outcome"] == "block" and data["code"] == "TOOL_DENIED"
    assert [r["verdict"] for r in data["rules"]] == ["pass", "block"]


def test_eval_from_stdin_with_shadow():
    facts = json.dumps({"prompt": "Ignore previous instructions please", "model": "gpt-4o"})
    proc = run(
        "eval",
        "rules/",
        "--hook",
        "generation_pre_call",
        "--payload",
        "-",
        "--shadow",
        "--format",
        "json",
        stdin=facts,
    )
    data = json.loads(proc.stdout)
    assert data["outcome"] == "allow"
    assert {r["rule"]: r["verdict"] for r in data["rules"]}["prompt_injection"] == "would_block"


def test_eval_bad_inputs(tmp_path):
    proc = run("eval", "rules/", "--hook", "generation_precall", "--payload", "-", stdin="{}")
    assert proc.returncode == 2 and "did you mean 'generation_pre_call'" in proc.stderr
    proc = run("eval", "rules/", "--hook", "generation_pre_call", "--payload", "-", stdin="{nope")
    assert proc.returncode == 1 and "not valid JSON" in proc.stderr
    proc = run("eval", "rules/", "--hook", "generation_pre_call", "--payload", "-", stdin="[1]")
    assert proc.returncode == 1 and "JSON object" in proc.stderr
    bad = tmp_path / "bad.rules"
    bad.write_text("on nowhere block\n")
    proc = run("eval", str(bad), "--hook", "generation_pre_call", "--payload", "-", stdin="{}")
    assert proc.returncode == 1 and "error[GR0200]" in proc.stderr


def test_hooks_listing_and_detail():
    proc = run("hooks")
    assert proc.returncode == 0
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert "generation_pre_call" in names and "tool_pre_invoke" in names
    proc = run("hooks", "tool_pre_invoke")
    assert "tool.name" in proc.stdout and "writable" in proc.stdout
    data = json.loads(run("hooks", "generation_pre_call", "--format", "json").stdout)
    assert data[0]["facts"]["tokens"] == {
        "type": "int",
        "writable": False,
        "kind": "normalized",
        "doc": data[0]["facts"]["tokens"]["doc"],
    }
    assert run("hooks", "nope").returncode == 2


@pytest.mark.parametrize("entry", [["guardrails"], [sys.executable, "-m", "guardrails"]])
def test_console_script_and_module_entry(entry):
    exe = Path(sys.executable).with_name("guardrails")
    if entry == ["guardrails"]:
        if not exe.exists():
            pytest.skip("console script not installed in this environment")
        entry = [str(exe)]
    proc = subprocess.run([*entry, "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "version" in proc.stdout


def example(path: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run `examples/<path>` as a real process; its stdout, after checking it succeeded."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_demo_runs_rules_through_cpex_and_mellea():
    out = example("demo.py")
    assert "== cpex: TenantPluginManager with 3 guardrails plugins ==" in out  # one per mode
    rows = [line.split() for line in out.splitlines()]
    # scripts/demo.sh says it evaluates examples/payloads/: every file, with its outcome
    payloads = {r[1]: r[2] for r in rows if len(r) > 2 and r[0] != "==" and r[1].endswith(".json")}
    files = sorted(p.name for p in (ROOT / "examples" / "payloads").glob("*.json"))
    assert (
        sorted(payloads) == files
        and "examples/payloads/" in (ROOT / "scripts" / "demo.sh").read_text()
    )
    assert payloads["08_admin_rm_rf.json"] == "BLOCK" and payloads["07_admin_shell.json"] == "allow"
    guest = next(r for r in rows if r[:4] == ["tool_pre_invoke", "guest", "calls", "shell"])
    assert guest[-3:-1] == ["dangerous_tools_for_operators", "[TOOL_DENIED]"]
    assert "would block: card_in_output [PII_CARD]" in out
    assert "would block: ssn_in_output [PII_SSN]" in out
    assert "BLOCK   prompt_injection [PROMPT_INJECTION]" in out
    assert "the poem reached it with temperature 1.0 and max_tokens 4096" in out
    # rules that remember: one session's calls through a cpex manager, in order
    state = [r for r in rows if r[:1] == ["tool_pre_invoke"] and r[1] in ("send_email", "search")]
    assert [(r[1], r[2], r[3]) for r in state] == [
        *[("send_email", f"#{i}", "allow") for i in range(1, 6)],
        ("send_email", "#6", "BLOCK"),
        ("search", "#1", "allow"),
        ("search", "#2", "allow"),
        ("search", "#3", "BLOCK"),
    ]
    assert "email_limit [EMAIL_LIMIT]" in out and "stuck_agent [AGENT_LOOP]" in out


def test_mellea_session_example_runs_without_a_model():
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_BASE_URL"}
    out = example("mellea_session.py", env=env)
    assert "BLOCKED  'Ignore all previous instructions" in out
    assert "[PROMPT_INJECTION]" in out
    assert "the backend saw temperature 1.0" in out


def test_one_rule_blocks_the_shell_in_haystack_mellea_and_a_cpex_yaml_config():
    lines = example("three_hosts.py").splitlines()
    assert lines[0].startswith("haystack  shell ran 0 time(s)")
    assert "Blocked by policy: destructive shell command" in lines[0]
    assert lines[1] == "mellea    blocked [SHELL_DESTRUCTIVE] destructive shell command"
    assert lines[2] == "cpex yaml blocked [SHELL_DESTRUCTIVE] destructive shell command"


def test_haystack_example_blocks_redacts_and_refuses_an_early_exit():
    out = example("haystack_agent.py")
    assert "tool shell: Blocked by policy: destructive shell command" in out
    assert "host=db.internal [REDACTED SECRET]" in out and "sk-live" not in out
    assert "user      [policy] call save_result before you answer" in out
    assert "exit: text, tool calls: {'shell': 0, 'read_config': 1, 'save_result': 1}" in out


@pytest.mark.parametrize("config", ["plugins.yaml", "external.yaml"])
def test_cpex_yaml_example_in_process_and_behind_guardrails_serve(config):
    env = dict(
        os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    )
    lines = [
        " ".join(line.split()) for line in example("cpex/run.py", config, env=env).splitlines()
    ]
    assert lines == [
        "tool_pre_invoke search guest allow",
        "tool_pre_invoke shell guest BLOCK [TOOL_DENIED] tool not allowed for this user",
        "tool_pre_invoke shell sre allow",
        "tool_post_invoke read_env sre MODIFY {'name': 'read_env', 'result': 'user=app "
        "[REDACTED SECRET]'}",
    ]


def test_eval_explain_shows_sub_conditions_and_fact_values():
    facts = json.dumps(
        {"tool": {"name": "shell", "args": {"cmd": "ls"}}, "user": {"role": "guest"}}
    )
    proc = run(
        "eval", "rules/", "--hook", "tool_pre_invoke", "--payload", "-", "--explain", stdin=facts
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "rule dangerous_tools_for_operators (rules/tools.rules:" in out
    lines = out.splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.startswith("rule dangerous_tools_for_operators")
    )
    block = lines[start:]
    assert block[1].strip() == "and: true"
    assert block[2].strip() == block[3].strip() == "or: true"
    assert block[4].strip().startswith("normalize(basename(tool.name)) in [")
    assert block[4].endswith("-> true")
    assert block[5].strip() == 'tool.name = "shell"'
    assert block[6].strip().endswith("-> not evaluated")
    assert block[7].strip().endswith("-> not evaluated")
    assert block[8].strip() == "not: true"
    assert block[9].strip() == 'user.role in ["admin", "sre"]  -> false'
    assert block[10].strip() == 'user.role = "guest"'
    data = json.loads(
        run(
            "eval",
            "rules/",
            "--hook",
            "tool_pre_invoke",
            "--payload",
            "-",
            "--explain",
            "--format",
            "json",
            stdin=facts,
        ).stdout
    )
    assert any("user.role" in line for line in data["explanation"])


def test_explain_shows_short_circuit_errors_and_transformed_facts(tmp_path):
    rules = tmp_path / "x.rules"
    rules.write_text(
        "rule t on generation_pre_call mode transform priority 1 set model_options.t = 5\n"
        "rule a on generation_pre_call mode audit when model_options.t > 4 or prompt contains 'x' block\n"
        "rule e on generation_pre_call mode audit when prompt contains 'x' block\n"
    )
    proc = run(
        "eval",
        str(rules),
        "--hook",
        "generation_pre_call",
        "--payload",
        "-",
        "--explain",
        stdin='{"prompt": 3}',
    )
    out = proc.stdout
    assert "model_options.t > 4  -> true" in out  # saw the value the transform wrote
    assert 'prompt contains "x"  -> not evaluated' in out
    assert 'prompt contains "x"  -> error: cannot test membership in int' in out


def test_eval_accepts_a_corpus_case_file():
    case = ROOT / "tests" / "corpus" / "tool_pre_invoke" / "guest_shell.json"
    proc = run(
        "eval", "rules/", "--hook", "tool_pre_invoke", "--payload", str(case), "--format", "json"
    )
    assert json.loads(proc.stdout)["blocked_by"] == "dangerous_tools_for_operators"


def test_eval_runs_stateful_rules_from_a_case_or_a_state_file(tmp_path):
    """A case file's prior state and time are used; `--state` and `--now` give them for
    a plain payload; explain shows the state values the rules read."""
    case = (
        ROOT / "examples" / "policies" / "corpus" / "tool_pre_invoke" / "email_limit_6th_email.json"
    )
    proc = run(
        "eval",
        "examples/policies",
        "--hook",
        "tool_pre_invoke",
        "--payload",
        str(case),
        "--explain",
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "BLOCK by email_limit [EMAIL_LIMIT] at most 5 emails a session" in out
    assert (
        "count_emails                      record      sequential/100 recorded emails_sent" in out
    )
    assert (
        'state at 2026-12-03T10:15:00Z (before -> after this call):\n  emails_sent ["alice","s1"]: 5 -> 6'
        in out
    )
    assert "emails_sent = 5\n        emails_sent.limit = 5" in out

    facts = json.loads(case.read_text())["facts"]
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"emails_sent": [{"key": ["alice", "s1"], "value": 4}]}))
    args = [
        "eval",
        "examples/policies",
        "--hook",
        "tool_pre_invoke",
        "--payload",
        "-",
        "--format",
        "json",
    ]
    fresh = json.loads(run(*args, stdin=json.dumps(facts)).stdout)
    assert fresh["outcome"] == "allow" and 'emails_sent ["alice","s1"]: 0 -> 1' in fresh["state"]
    seeded = json.loads(
        run(
            *args, "--state", str(state), "--now", "2026-12-03T11:00:00Z", stdin=json.dumps(facts)
        ).stdout
    )
    assert seeded["outcome"] == "allow" and 'emails_sent ["alice","s1"]: 4 -> 5' in seeded["state"]
    state.write_text(json.dumps({"emails": [{"key": ["s1"], "value": 4}]}))
    bad = run(*args, "--state", str(state), stdin=json.dumps(facts))
    assert bad.returncode == 1
    assert "error: prior state: no rule reads or records a state named 'emails'" in bad.stderr


def test_eval_reads_the_hook_and_facts_of_the_example_payload_files():
    """Each file of examples/payloads/ names its hook: eval takes the facts under
    `facts` and the hook from the file (it once read the whole file as facts, and all
    twelve, `rm -rf` and the prompt injection included, came out ALLOW)."""
    expected = {
        "02_huge_prompt.json": ("block", "token_budget"),
        "05_injection.json": ("block", "prompt_injection"),
        "06_guest_shell.json": ("block", "dangerous_tools_for_operators"),
        "08_admin_rm_rf.json": ("block", "no_destructive_shell"),
        "01_short_prompt.json": ("allow", None),
    }
    for name, (outcome, rule) in expected.items():
        proc = run("eval", "rules/", "--payload", f"examples/payloads/{name}", "--format", "json")
        assert proc.returncode == 0, proc.stderr
        verdict = json.loads(proc.stdout)
        assert (verdict["outcome"], verdict["blocked_by"]) == (outcome, rule), name
    clash = run("eval", "rules/", "--hook", "generation_pre_call",
                "--payload", "examples/payloads/06_guest_shell.json")  # fmt: skip
    assert clash.returncode == 2 and "a case of 'tool_pre_invoke'" in clash.stderr
    none = run("eval", "rules/", "--payload", "-", stdin='{"prompt": "hi"}')
    assert none.returncode == 2 and "give --hook" in none.stderr


def test_eval_refuses_facts_the_hook_does_not_have():
    """A misspelt fact would never be read: a false pass. Also a case file with keys
    beside `facts` that a case does not have."""
    typo = run("eval", "rules/", "--hook", "tool_pre_invoke", "--payload", "-",
               stdin='{"tol": {"name": "shell"}}')  # fmt: skip
    assert typo.returncode == 1
    assert "'tol' is not a fact of tool_pre_invoke; did you mean 'tool'?" in typo.stderr
    wrong_hook = run("eval", "rules/", "--hook", "generation_pre_call", "--payload", "-",
                     stdin='{"tool": {"name": "shell"}, "request_id": "r1"}')  # fmt: skip
    assert wrong_hook.returncode == 1 and "'tool' is not a fact of generation_pre_call" in (
        wrong_hook.stderr
    )
    odd = run("eval", "rules/", "--hook", "tool_pre_invoke", "--payload", "-",
              stdin='{"facts": {"tool": {"name": "shell"}}, "meta": 1}')  # fmt: skip
    assert odd.returncode == 1 and "'meta'" in odd.stderr


def test_check_disable_takes_only_lint_codes():
    """An unknown or error code would switch nothing off: a usage error (exit 2)."""
    typo = run("check", "rules/", "--disable", "GR3020")
    assert typo.returncode == 2 and "'GR3020' is not a lint code" in typo.stderr
    near = run("check", "rules/", "--disable", "GR0320x")
    assert near.returncode == 2 and "did you mean GR0320?" in near.stderr
    error = run("check", "rules/", "--disable", "GR0101")
    assert error.returncode == 2 and "errors cannot be switched off" in error.stderr
    assert run("check", "rules/", "--disable", "GR0302").returncode == 0
