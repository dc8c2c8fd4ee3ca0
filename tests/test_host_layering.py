"""Hosts at the edge, seen from a process: checking any host's rules loads no host library,
and the cpex package's names load cpex only when used. (The import rules are in
test_layering.py.)"""

from __future__ import annotations

import subprocess
import sys


def test_checking_host_hooks_imports_no_host_library():
    code = (
        "import sys, guardrails\n"
        "guardrails.loads('rule a on on_exit when step_count > 3 continue\\n"
        'rule b on before_tool when tool.name == "x" block\\n'
        "rule c on generation_pre_call when tokens > 9 block\\n')\n"
        "print('\\n'.join(sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    mods = set(out.stdout.split())
    for host in ("cpex", "mellea", "haystack", "pydantic"):
        assert not any(m == host or m.startswith(host + ".") for m in mods), host


def test_the_cpex_packages_old_names_resolve_lazily():
    out = subprocess.run(
        [sys.executable, "-c",
         "import sys, guardrails.adapters.cpex as c\n"
         "before = 'cpex' in sys.modules\n"
         "from guardrails.adapters.cpex import decisions, hook_policies, RulesPlugin\n"
         "print(before, decisions.__name__, hook_policies.__name__, RulesPlugin.__name__)"],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    assert out == ["False", "decisions", "hook_policies", "RulesPlugin"]
