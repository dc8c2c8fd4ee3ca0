"""What a corpus run reports for CI, beside pass and fail: coverage (tooling/coverage.py),
a JSON report with one entry per case, and readable JUnit names (`hook/case`).

Loaded with the corpus plugin (tooling/pytest_plugin.py); its options are added there.
Nothing here runs unless its option is given, and the normal path of a case pays
nothing for coverage: the condition is re-evaluated only when it is on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

_COVERAGE = pytest.StashKey[Any]()  # the Coverage being filled, once a case has run
_ENTRIES = pytest.StashKey[dict[str, dict[str, Any]]]()  # nodeid -> report entry
_OUTCOME = pytest.StashKey[str]()  # a case item's combined outcome


def coverage_on(config: pytest.Config) -> bool:
    return bool(
        config.getoption("guardrails_coverage", False)
        or config.getoption("guardrails_coverage_json", None)
        or config.getoption("guardrails_min_coverage", None) is not None
    )


def pytest_configure(config: pytest.Config) -> None:
    if coverage_on(config) and config.getoption("numprocesses", None):
        raise pytest.UsageError(
            "--guardrails-coverage counts every case in one process: run it without -n"
        )
    config.stash[_ENTRIES] = {}


def observer(request: pytest.FixtureRequest) -> Callable[[Any, Any, Any], None]:
    """What `check_case` calls with each case it ran: the outcome for the JSON report,
    and, when coverage is on, the coverage of the case."""
    config, node = request.config, request.node

    def observe(policy: Any, case: Any, result: Any) -> None:
        from .expectations import describe_outcome

        node.stash[_OUTCOME] = describe_outcome(result.verdict)
        if not coverage_on(config):
            return
        from .casejudge import answering
        from .coverage import Coverage, state_read

        if _COVERAGE not in config.stash:
            config.stash[_COVERAGE] = Coverage(policy, root=config.rootpath)
        read = state_read(policy, case.hook, case.facts, case)
        with answering(case.judge):  # the judge answers as it did in the run
            config.stash[_COVERAGE].observe(policy, case.hook, case.facts, result.verdict, read)

    return observe


def _case_of(item: pytest.Item) -> tuple[str | None, str, str | None]:
    """(hook, case, file) of a corpus item; a corpus problem has no hook."""
    callspec = getattr(item, "callspec", None)
    path = callspec.params.get("guardrails_case_path") if callspec is not None else None
    if path is None:
        return None, item.name, _shown(item.config, item.path)
    return path.parent.name, path.stem, _shown(item.config, path)


def _shown(config: pytest.Config, path: Path) -> str:
    """A path relative to the project's root, where it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(config.rootpath.resolve()))
    except ValueError:
        return str(path)


def _ours(item: pytest.Item) -> bool:
    from .pytest_plugin import CorpusModule, CorpusProblem

    return isinstance(item, CorpusProblem) or isinstance(item.parent, CorpusModule)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """JUnit names a CI can read: `tool_pre_invoke/guest_shell`, not `test_case[...]`."""
    if not _ours(item):
        return
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # a pytest without it: the default names stay
        return
    xml = item.config.stash.get(xml_key, None)
    if xml is None:
        return
    hook, case, _ = _case_of(item)
    reporter = xml.node_reporter(item.nodeid)
    reporter.add_attribute("classname", f"guardrails.{hook or 'corpus'}")
    reporter.add_attribute("name", f"{hook}/{case}" if hook else f"corpus: {case}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if item.config.getoption("guardrails_report_json", None) and _ours(item):
        hook, case, path = _case_of(item)
        entries = item.config.stash[_ENTRIES]
        entry = entries.setdefault(item.nodeid, {
            "id": f"{hook}/{case}" if hook else f"corpus: {case}", "hook": hook, "case": case,
            "file": path, "outcome": None, "passed": True, "message": None,
        })  # fmt: skip
        entry["outcome"] = item.stash.get(_OUTCOME, None)
        if report.failed and entry["passed"]:
            entry["passed"] = False
            entry["message"] = report.longreprtext.strip()
        elif report.skipped and report.when != "teardown":
            entry["passed"], entry["message"] = None, report.longreprtext.strip()
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    target = config.getoption("guardrails_report_json", None)
    if target:
        entries = list(config.stash.get(_ENTRIES, {}).values())
        _write(target, {
            "passed": sum(e["passed"] is True for e in entries),
            "failed": sum(e["passed"] is False for e in entries),
            "cases": entries,
        })  # fmt: skip
    if not coverage_on(config):
        return
    coverage = config.stash.get(_COVERAGE, None)
    target = config.getoption("guardrails_coverage_json", None)
    if target:
        _write(target, coverage.to_dict() if coverage is not None else {"cases": 0})
    floor = config.getoption("guardrails_min_coverage", None)
    percent = coverage.percent if coverage is not None else 0.0
    if floor is not None and percent < floor and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not coverage_on(config):
        return
    terminalreporter.section("guardrails coverage")
    coverage = config.stash.get(_COVERAGE, None)
    if coverage is None:
        terminalreporter.write_line("no corpus case ran: nothing to measure")
    else:
        terminalreporter.write_line(coverage.render())
    floor = config.getoption("guardrails_min_coverage", None)
    percent = coverage.percent if coverage is not None else 0.0
    if floor is not None and percent < floor:
        terminalreporter.write_line(
            f"FAIL: coverage {percent:.1f}% is below --min-coverage {floor:g}%", red=True
        )


def _write(target: str, data: Any) -> None:
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
