"""The architecture, enforced: who may import whom, read from the source's import graph.

Every `import` counts, lazy ones inside functions too (they run, just later); only
imports under `if TYPE_CHECKING:` are left out. A module's package is the folder it
sits in; the language core is syntax -> check -> compile, with runtime beside them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "guardrails"
# diagnostics and source are the root modules every stage shares
CORE = ("syntax", "check", "compile", "runtime", "diagnostics", "source")
EDGE = ("policy", "records", "adapters", "tooling", "testing", "cpex", "detectors")
HOSTS = ("cpex", "mcp", "mellea", "haystack", "opentelemetry", "redis")
# the detector packs' libraries (optional extras): only guardrails/detectors/, lazily
DETECTOR_LIBRARIES = ("cpex_pii_filter", "cpex_secrets_detection", "detect_secrets")


def _module_name(path: Path) -> str:
    parts = ["guardrails", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(module: str) -> str:
    path = PACKAGE.joinpath(*module.split(".")[1:])
    return module if (path / "__init__.py").is_file() else module.rpartition(".")[0]


def _is_module(name: str) -> bool:
    path = PACKAGE.joinpath(*name.split(".")[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of import nodes under `if TYPE_CHECKING:`."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped.update(id(n) for n in ast.walk(child))
    return skipped


def _imports_of(path: Path, module: str) -> Iterator[tuple[str, int, bool]]:
    """(absolute module name, line, lazy: inside a function) of each run-time import of
    `module`, read at `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_only(tree)
    lazy = {
        id(n)
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
        for n in ast.walk(f)
    }
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        inside = id(node) in lazy
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, inside
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("guardrails"):
                subs = [
                    f"{target}.{a.name}" for a in node.names if _is_module(f"{target}.{a.name}")
                ]
                yield from ((s, node.lineno, inside) for s in subs)
                if subs and (node.module is None or len(subs) == len(node.names)):
                    continue  # `from pkg import mod`: the package's __init__ is not an edge
            yield target, node.lineno, inside


@cache
def graph() -> dict[str, list[tuple[str, int, bool]]]:
    """Every module of the package -> the modules it imports (line, lazy)."""
    return {
        _module_name(p): list(_imports_of(p, _module_name(p)))
        for p in sorted(PACKAGE.rglob("*.py"))
    }


def _area(module: str) -> str:
    """`syntax`, `adapters`, ... (or `cpex`, `diagnostics` for the root's own modules)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "guardrails" and len(parts) > 1 else ""


def _violations(rule, lazy_too: bool = True) -> list[str]:
    return [
        f"{m}:{line} imports {t}"
        for m, edges in graph().items()
        for t, line, lazy in edges
        if (lazy_too or not lazy) and rule(m, t)
    ]


def test_the_graph_counts_lazy_imports_and_skips_type_checking_ones(tmp_path):
    source = tmp_path / "fake.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from ..runtime import ops\n"
        "if TYPE_CHECKING:\n    from ..policy import Policy\n"
        "def f():\n    from ..adapters.cpex import binding\n    import lark\n"
    )
    found = set(_imports_of(source, "guardrails.tooling.fake"))
    assert {(t, lazy) for t, _, lazy in found} == {
        ("typing", False),
        ("guardrails.runtime.ops", False),
        ("guardrails.adapters.cpex.binding", True),
        ("lark", True),
    }


def test_the_language_core_imports_no_edge_package():
    def rule(m: str, t: str) -> bool:
        return (
            _area(m) in CORE
            and t.startswith("guardrails")
            and (_area(t) in EDGE or t in ("guardrails", "guardrails.cpex"))
        )

    assert _violations(rule) == []


def test_stages_import_only_downstream():
    later = {
        "syntax": ("check", "compile"),
        "check": ("compile",),
        "runtime": ("syntax", "check", "compile"),
    }

    def rule(m: str, t: str) -> bool:
        return t.startswith("guardrails.") and _area(t) in later.get(_area(m), ())

    assert _violations(rule) == []


def test_runtime_imports_only_the_standard_library_and_itself():
    def rule(m: str, t: str) -> bool:
        if _area(m) != "runtime":
            return False
        return not (
            t.startswith("guardrails.runtime")
            or t.split(".", maxsplit=1)[0] in sys.stdlib_module_names
        )

    assert _violations(rule) == []


def test_lark_is_imported_only_in_syntax():
    assert _violations(lambda m, t: t.split(".")[0] == "lark" and _area(m) != "syntax") == []


def test_click_is_imported_only_by_cli_modules_of_tooling():
    def rule(m: str, t: str) -> bool:
        in_cli = _area(m) == "tooling" and m.rpartition(".")[2].endswith("cli")
        return t.split(".", maxsplit=1)[0] == "click" and not in_cli

    assert _violations(rule) == []


_LSP_LIBRARIES = ("pygls", "lsprotocol")
# the editor features' logic: pure functions over texts, testable without a server
_LSP_PURE = ("lexed", "context", "complete", "hover", "symbols", "reference", "workspace")


def test_pygls_and_lsprotocol_are_imported_only_by_the_language_server():
    """They come with the `lsp` extra: only guardrails/tooling/lsp/ imports them (not
    its pure modules), and the rest of the package reaches that package lazily
    (`guardrails lsp` says what to install when they are missing)."""

    def rule(m: str, t: str) -> bool:
        in_lsp = m.startswith("guardrails.tooling.lsp.")
        pure = m.rpartition(".")[2] in _LSP_PURE
        return t.split(".", maxsplit=1)[0] in _LSP_LIBRARIES and (not in_lsp or pure)

    def eager(m: str, t: str) -> bool:
        inside = m.startswith("guardrails.tooling.lsp.") or m == "guardrails.tooling.lsp"
        return t.startswith("guardrails.tooling.lsp.") and not inside

    assert _violations(rule) == []
    assert _violations(eager, lazy_too=False) == []
    assert any(
        t.startswith("guardrails.tooling.lsp.") for t, _, _ in graph()["guardrails.tooling.lsp_cli"]
    )


_WEB_LIBRARIES = ("starlette", "uvicorn", "plotly")
# the console's logic modules: plain functions over the rules, testable without a server
_CONSOLE_PURE = ("state", "timeline", "rollout_data")


def test_the_web_framework_is_imported_only_by_the_console_and_the_serve_adapter():
    """starlette, uvicorn and plotly come with the `ui` extra: only
    guardrails/tooling/console/ imports them (and adapters/cpex/ starts cpex's own
    uvicorn), and the CLI reaches the console lazily, so `guardrails ui` can say
    which extra is missing."""

    def rule(m: str, t: str) -> bool:
        in_console = m.startswith("guardrails.tooling.console.")
        pure = in_console and m.rpartition(".")[2] in _CONSOLE_PURE
        allowed = (in_console and not pure) or m.startswith("guardrails.adapters.cpex.")
        return t.split(".", maxsplit=1)[0] in _WEB_LIBRARIES and not allowed

    def eager(m: str, t: str) -> bool:
        inside = m.startswith("guardrails.tooling.console")
        return t.startswith("guardrails.tooling.console.") and not inside

    assert _violations(rule) == []
    assert _violations(eager, lazy_too=False) == []
    assert any(
        t.startswith("guardrails.tooling.console.")
        for t, _, _ in graph()["guardrails.tooling.ui_cli"]
    )


def test_host_libraries_are_imported_only_by_adapters_and_testing():
    def rule(m: str, t: str) -> bool:
        return t.split(".", maxsplit=1)[0] in HOSTS and _area(m) not in ("adapters", "testing")

    assert _violations(rule) == []


def test_detector_libraries_are_imported_only_by_the_packs_and_lazily():
    def rule(m: str, t: str) -> bool:
        return t.split(".", maxsplit=1)[0] in DETECTOR_LIBRARIES and _area(m) != "detectors"

    assert _violations(rule) == []

    def eager(m: str, t: str) -> bool:
        return t.split(".", maxsplit=1)[0] in DETECTOR_LIBRARIES

    assert _violations(eager, lazy_too=False) == []  # a missing extra must not break import


def test_no_adapter_imports_the_policy_at_run_time():
    def rule(m: str, t: str) -> bool:
        return _area(m) == "adapters" and _area(t) == "policy"

    assert _violations(rule) == []


def test_the_policy_reaches_adapters_only_inside_its_delegating_methods():
    def rule(m: str, t: str) -> bool:
        return _area(m) == "policy" and _area(t) == "adapters"

    assert _violations(rule, lazy_too=False) == []


def test_host_tables_are_plain_data_and_the_checker_knows_no_host():
    def rule(m: str, t: str) -> bool:
        if _area(m) == "hosts":
            return not (
                _area(t) == "hosts" or t.split(".", maxsplit=1)[0] in sys.stdlib_module_names
            )
        return _area(m) == "check" and _area(t) in ("adapters", "hosts")

    assert _violations(rule) == []


def _cycles() -> list[list[str]]:
    """Strongly connected components (Tarjan) of more than one module."""
    edges = {m: sorted({t for t, _, _ in e if t in graph()}) for m, e in graph().items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_spans_two_packages():
    spanning = [c for c in _cycles() if len({_package_of(m) for m in c}) > 1]
    assert spanning == []


def test_the_cycle_finder_finds_a_planted_circle(monkeypatch):
    fake = {
        "guardrails.a.x": [("guardrails.b.y", 1, False)],
        "guardrails.b.y": [("guardrails.a.x", 2, True)],
    }
    monkeypatch.setattr(sys.modules[__name__], "graph", lambda: fake)
    assert _cycles() == [["guardrails.a.x", "guardrails.b.y"]]


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_no_module_is_over_400_lines(path: Path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 400, f"{path.relative_to(PACKAGE)}: {lines} lines"


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
    for host in ("cpex", "mellea", "haystack", "pydantic", "click", "redis"):
        assert not any(m == host or m.startswith(host + ".") for m in mods), host
