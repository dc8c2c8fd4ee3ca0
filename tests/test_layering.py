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


def _package_imports() -> dict[str, set[str]]:
    """Top-level unit (`syntax`, `records`, `diagnostics`, ...) -> the units it imports,
    lazily imported ones included, relative imports resolved."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        package = list(parts[:-1])
        unit = parts[1] if len(parts) > 1 else "guardrails"
        targets = graph.setdefault(unit, set())
        for imported in _imports(path):
            level = len(imported) - len(imported.lstrip("."))
            name = imported
            if level:
                base = package[: len(package) - (level - 1)]
                name = ".".join([*base, imported[level:]] if imported[level:] else base)
            if name == "guardrails" or name.startswith("guardrails."):
                target = name.split(".")[1] if "." in name else "guardrails"
                if target != unit:
                    targets.add(target)
    return graph


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), list(graph.get(start, ()))
    while todo:
        unit = todo.pop()
        if unit == goal:
            return True
        if unit not in seen:
            seen.add(unit)
            todo.extend(graph.get(unit, ()))
    return False


def test_the_language_core_imports_nothing_built_on_it():
    graph = _package_imports()
    outer = {"records", "tooling", "testing", "policy", "adapters", "cpex", "guardrails"}
    for unit in ("syntax", "check", "compile", "runtime", "source", "diagnostics"):
        assert not graph.get(unit, set()) & outer, (unit, graph[unit] & outer)


def test_records_tooling_and_testing_are_in_no_import_cycle():
    graph = _package_imports()
    assert graph["records"] <= {"runtime"}, graph["records"]
    for unit in ("records", "tooling", "testing"):
        assert not any(_reaches(graph, target, unit) for target in graph.get(unit, ())), unit
    users = {u for u, targets in graph.items() if targets & {"tooling", "testing"}}
    assert users <= {"__main__"}, users


def test_lark_is_imported_only_under_syntax():
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name != "syntax":
            assert not any(n.split(".")[0] == "lark" for n in _imports(path)), path
