"""Hosts at the edge: the policy knows no host, the checker knows no host's tables."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "guardrails"


def _runtime_imports(path: Path) -> list[tuple[str, int, bool]]:
    """(absolute module, line, inside a function) for every import not under TYPE_CHECKING."""
    tree = ast.parse(path.read_text())
    checking: set[int] = set()
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            checking.update(id(n) for n in ast.walk(node))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_function.update(id(n) for n in ast.walk(node))
    parts = ["guardrails", *path.relative_to(PACKAGE).with_suffix("").parts]
    found = []
    for node in ast.walk(tree):
        if id(node) in checking:
            continue
        if isinstance(node, ast.ImportFrom):
            base = parts[: len(parts) - node.level] if node.level else []
            name = ".".join([*base, node.module] if node.module else base) if base else node.module
            found.append((name or "", node.lineno, id(node) in in_function))
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno, id(node) in in_function) for a in node.names]
    return found


def test_no_adapter_imports_the_policy_at_run_time():
    for path in (PACKAGE / "adapters").rglob("*.py"):
        for name, line, _ in _runtime_imports(path):
            assert not name.startswith("guardrails.policy"), (str(path), line, name)


def test_the_policy_reaches_adapters_only_inside_its_delegating_methods():
    for path in (PACKAGE / "policy").glob("*.py"):
        for name, line, inside in _runtime_imports(path):
            if name.startswith("guardrails.adapters"):
                assert inside, (path.name, line, name)


def test_host_tables_are_plain_data_and_the_checker_knows_no_host():
    for path in (PACKAGE / "hosts").glob("*.py"):
        for name, line, _ in _runtime_imports(path):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or name.startswith("guardrails.hosts"), (
                path.name,
                line,
                name,
            )
    for path in (PACKAGE / "check").glob("*.py"):
        for name, line, _ in _runtime_imports(path):
            assert not name.startswith(("guardrails.adapters", "guardrails.hosts")), (
                path.name,
                line,
                name,
            )


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
