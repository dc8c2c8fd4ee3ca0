"""A small project for the console's tests: two rules files, a corpus with snapshots
written by `guardrails test --update` itself, and a decision log with call records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import guardrails
from guardrails.records.sinks import JsonlSink

ROOT = Path(__file__).resolve().parents[1]

TOOLS = """\
rule no_rm "no recursive deletes"
  on tool_pre_invoke
  when tool.name == "shell" and text(tool.args) contains "rm -rf"
  block "destructive shell command" code SHELL_RM
"""
PROMPTS = """\
rule no_secret_word
  on generation_pre_call
  when prompt contains "hunter2"
  block "a password in the prompt" code PASSWORD
"""
RM_CASE = {
    "description": "rm -rf",
    "expect": "block by no_rm code SHELL_RM",
    "facts": {"tool": {"name": "shell", "args": {"cmd": "rm -rf /srv"}}},
}
LS_CASE = {"expect": "allow", "facts": {"tool": {"name": "shell", "args": {"cmd": "ls"}}}}


def make_project(base: Path, snapshots: bool = True) -> dict[str, Path]:
    rules, corpus = base / "rules", base / "corpus"
    rules.mkdir(parents=True)
    (rules / "tools.rules").write_text(TOOLS)
    (rules / "prompts.rules").write_text(PROMPTS)
    hook = corpus / "tool_pre_invoke"
    hook.mkdir(parents=True)
    (hook / "rm.json").write_text(json.dumps(RM_CASE, indent=2))
    (hook / "ls.json").write_text(json.dumps(LS_CASE, indent=2))
    if snapshots:
        subprocess.run(
            [sys.executable, "-m", "guardrails", "test", str(rules), "--corpus", str(corpus),
             "--update", "--", "-p", "no:randomly", "-q"],
            cwd=base, check=True, capture_output=True, env=_env(),
        )  # fmt: skip
    log = base / "decisions.jsonl"
    sink = JsonlSink(log)
    policy = guardrails.load(rules, sinks=[sink], capture=True)
    policy.evaluate("tool_pre_invoke", {"tool": {"name": "shell", "args": {"cmd": "rm -rf /"}}})
    policy.evaluate("generation_pre_call", {"prompt": "hello there"})
    policy.flush()
    sink.close()
    return {"rules": rules, "corpus": corpus, "log": log}


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT)}
