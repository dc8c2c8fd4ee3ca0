"""pytest plugin: snapshot tests for a ruleset and its corpus, by configuration alone.

    [tool.pytest.ini_options]
    guardrails_rules = "rules"
    guardrails_corpus = "tests/corpus"

(or `--guardrails-rules` / `--guardrails-corpus`, or module variables of those names in
a conftest.py). The corpus directory then collects as one module per hook with one
test per case (`tests/corpus/tool_pre_invoke::test_case[guest_shell]`), each asserting
a syrupy snapshot (`tests/corpus/__snapshots__/<hook>.ambr`) and the case's `expect`
lines. `pytest --snapshot-update` rewrites snapshots; expectations still fail. A
ruleset or corpus with no cases, an unreadable case or a broken rules file is a
failing test, never a silent pass.

`--guardrails-coverage` (`-json PATH`, `--guardrails-min-coverage N`) reports which
rules and operands the cases exercise, `--guardrails-report-json PATH` one entry per
case, and `--junitxml` names cases `hook/case` (tooling/pytest_reports.py).

Registered through the `pytest11` entry point; it does nothing unless configured.
"""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

OPTIONS = ("guardrails_rules", "guardrails_corpus")
pytest_plugins = ["guardrails.tooling.pytest_reports"]  # coverage, JSON report, JUnit names


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("guardrails", "guardrails rules snapshot corpus")
    group.addoption("--guardrails-rules", dest="guardrails_rules", default=None,
                    help="rules file or directory the corpus is checked against")  # fmt: skip
    group.addoption("--guardrails-corpus", dest="guardrails_corpus", default=None,
                    help="corpus directory (one sub-directory of JSON cases per hook)")  # fmt: skip
    group.addoption("--guardrails-coverage", dest="guardrails_coverage", action="store_true",
                    help="report which rules the corpus fires and passes, and which operands "
                    "of their conditions it sees true and false (docs/testing.md)")  # fmt: skip
    group.addoption("--guardrails-coverage-json", dest="guardrails_coverage_json",
                    metavar="PATH", default=None,
                    help="write the coverage as JSON to PATH (implies coverage)")  # fmt: skip
    group.addoption("--guardrails-min-coverage", dest="guardrails_min_coverage", type=float,
                    metavar="PERCENT", default=None,
                    help="fail the run when the share of coverage goals met is below PERCENT "
                    "(implies --guardrails-coverage)")  # fmt: skip
    group.addoption("--guardrails-report-json", dest="guardrails_report_json", metavar="PATH",
                    default=None,
                    help="write one JSON entry per corpus case (hook, case, outcome, passed, "
                    "message) to PATH")  # fmt: skip
    parser.addini("guardrails_rules", "rules file or directory for the snapshot corpus")
    parser.addini("guardrails_corpus", "snapshot corpus directory (default tests/corpus)")


def _setting(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(name, default=None)
    if value:
        return str(value)
    ini = config.getini(name)
    if ini:
        return str(ini)
    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, types.ModuleType) and plugin.__name__.endswith("conftest"):
            found = getattr(plugin, name, None)
            if found:
                return str(found)
    return None


def _settings(config: pytest.Config) -> tuple[Path, Path] | None:
    rules = _setting(config, "guardrails_rules")
    if rules is None:
        return None
    corpus = _setting(config, "guardrails_corpus") or "tests/corpus"
    root = config.rootpath
    return (root / rules).resolve(), (root / corpus).resolve()


def pytest_collect_directory(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    settings = _settings(parent.config)
    if settings is not None and path.resolve() == settings[1]:
        return CorpusDirectory.from_parent(parent, path=path)
    return None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config) -> None:
    settings = _settings(config)
    if settings is None or config.stash.get(_COLLECTED, False):
        return
    if not settings[1].is_dir():
        raise pytest.UsageError(
            f"guardrails_corpus {settings[1]} is not a directory (guardrails_rules is set, "
            "so the snapshot corpus must exist)"
        )


_COLLECTED = pytest.StashKey[bool]()


class CorpusProblem(pytest.Item):
    """A failing item for what makes the corpus unusable (no cases, broken rules)."""

    def __init__(self, *, message: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message
        # what a test function has: other plugins' runtest wrappers read it (pytest-lsp
        # 1.0.1's returns without yielding when it is missing, and pytest then errors)
        self.funcargs: dict[str, Any] = {}

    def runtest(self) -> None:
        raise CorpusFailure(self.message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CorpusFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"guardrails corpus: {self.name}"


class CorpusFailure(Exception):
    pass


class CorpusDirectory(pytest.Directory):
    def collect(self) -> list[pytest.Item | pytest.Collector]:
        self.config.stash[_COLLECTED] = True
        from ..diagnostics import RulesError
        from ..extras import MissingExtra, require
        from .corpus import case_files, hook_dirs, iter_cases

        rules_path, _ = _settings(self.config)  # type: ignore[misc]
        try:
            require("test", "the guardrails snapshot corpus", "syrupy")
        except MissingExtra as err:  # else: "fixture 'snapshot' not found", for every case
            return [CorpusProblem.from_parent(self, name="syrupy", message=str(err))]
        try:
            policy = _policy(self.config)
        except RulesError as err:
            return [CorpusProblem.from_parent(self, name="rules", message=str(err))]
        if not policy.rules:
            return [
                CorpusProblem.from_parent(self, name="rules", message=f"{rules_path} has no rules")
            ]
        items: list[pytest.Item | pytest.Collector] = []
        for hook_dir in hook_dirs(self.path):
            if hook_dir.name not in policy.catalog:
                suggestion = policy.catalog.suggest(hook_dir.name)
                items.append(CorpusProblem.from_parent(
                    self, name=hook_dir.name,
                    message=f"{hook_dir}: no hook named {hook_dir.name!r}"
                    + (f"; did you mean {suggestion!r}?" if suggestion else ""),
                ))  # fmt: skip
                continue
            if case_files(hook_dir):  # an empty directory would only yield a skip
                items.append(CorpusModule.from_parent(self, path=hook_dir))
        pairs = sum(
            len(policy.programs(hook))
            for hook, _ in iter_cases(self.path)
            if hook in policy.catalog
        )
        if pairs == 0:
            items.append(CorpusProblem.from_parent(
                self, name="no-cases",
                message=f"the corpus {self.path} with the rules {rules_path} yields zero "
                "(case x rule) pairs: add JSON cases under <corpus>/<hook>/ "
                "for hooks the rules use",
            ))  # fmt: skip
        return items


class CorpusModule(pytest.Module):
    """One hook's cases, as a test module whose only test is `test_case`."""

    def _getobj(self) -> types.ModuleType:
        return _CASES_MODULE

    def _register_setup_module_fixture(self) -> None:  # our module has no setup_module
        pass

    def _register_setup_function_fixture(self) -> None:
        pass


_POLICY = pytest.StashKey[Any]()
_MANAGER = pytest.StashKey[Any]()


def _policy(config: pytest.Config) -> Any:
    """The ruleset, loaded once per test session (raises RulesError)."""
    if _POLICY not in config.stash:
        from .corpus import load_policy

        rules_path, _ = _settings(config)  # type: ignore[misc]
        config.stash[_POLICY] = load_policy(rules_path)
    return config.stash[_POLICY]


def _manager(config: pytest.Config) -> Any:
    """A real cpex manager holding the ruleset's plugins, once per test session."""
    if _MANAGER not in config.stash:
        import logging

        logging.getLogger("cpex").setLevel(logging.ERROR)  # blocks are expected here
        config.stash[_MANAGER] = asyncio.run(_policy(config).manager())
    return config.stash[_MANAGER]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parent = metafunc.definition.parent
    if not isinstance(parent, CorpusModule) or "guardrails_case_path" not in metafunc.fixturenames:
        return
    from .corpus import case_files

    paths = case_files(parent.path)
    metafunc.parametrize("guardrails_case_path", paths, ids=[p.stem for p in paths])


def _run_case(request: pytest.FixtureRequest, path: Path, snapshot: Any) -> None:
    from .pytest_reports import observer

    config = request.config
    check_case(_policy(config), _manager(config), path, snapshot, observer(request))


def check_case(
    policy: Any,
    manager: Any,
    path: Path,
    snapshot: Any,
    observe: Callable[[Any, Any, Any], None] | None = None,
) -> None:
    """Run one case file (its hook is its folder's name) and fail the test, readably,
    on a snapshot mismatch, an expectation that does not hold, or cpex and evaluate
    disagreeing. For a corpus of its own in a test module: `policy` from
    `corpus.load_policy`, `manager` from `policy.manager()` (or None), `snapshot`
    syrupy's fixture. `observe(policy, case, result)` sees every case that ran."""
    from .corpus import CorpusError, case_problems, load_case, render, run_case

    failure: str | None = None
    try:
        case = load_case(path, path.parent.name)
        result = run_case(policy, case, manager)
    except CorpusError as err:
        failure = str(err)
    if failure is not None:  # outside `except`: no "during handling" chain in the report
        pytest.fail(failure, pytrace=False)
    if observe is not None:
        observe(policy, case, result)
    text = render(result)
    matched = snapshot == text
    recalled = None
    if not matched:
        old = snapshot.executions[max(snapshot.executions)].recalled_data
        recalled = None if old is None else str(old)
    problems = case_problems(result, text, matched, recalled)
    if problems:
        pytest.fail("\n".join(problems) + f"\n\n{path}", pytrace=False)


def _make_cases_module() -> types.ModuleType:
    module = types.ModuleType(__name__ + "_cases", "guardrails corpus cases")

    def test_case(
        request: pytest.FixtureRequest, guardrails_case_path: Path, snapshot: Any
    ) -> None:
        _run_case(request, guardrails_case_path, snapshot)

    test_case.__module__ = module.__name__
    module.test_case = test_case  # type: ignore[attr-defined]
    module.__file__ = __file__
    sys.modules[module.__name__] = module
    return module


_CASES_MODULE = _make_cases_module()
