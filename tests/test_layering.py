"""Import discipline: the core never loads host libraries; the runtime never loads lark."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "guardrails"


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return set(out.split())


def test_import_guardrails_loads_no_host_library():
    mods = _modules_after("import guardrails; guardrails.loads('on generation_pre_call block')")
    for host in ("cpex", "mellea", "haystack", "pydantic", "click"):
        assert not any(m == host or m.startswith(host + ".") for m in mods), host


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
    return found


def test_runtime_imports_only_the_standard_library_and_itself():
    runtime = PACKAGE / "runtime"
    for path in runtime.glob("*.py"):
        for name in _imports(path):
            if name.startswith("."):
                assert not name.startswith(".."), (path.name, name)
            else:
                assert name.split(".")[0] in sys.stdlib_module_names, (path.name, name)


def test_stages_import_only_downstream():
    """syntax never imports check/compile; check never imports compile; only cli uses click."""
    rules = {"syntax": ("..check", "..compile", "..policy"), "check": ("..compile", "..policy")}
    for stage, forbidden in rules.items():
        for path in (PACKAGE / stage).glob("*.py"):
            for name in _imports(path):
                assert not name.startswith(forbidden), (stage, path.name, name)
    for path in PACKAGE.rglob("*.py"):
        if path.name != "cli.py":
            assert "click" not in _imports(path), path
