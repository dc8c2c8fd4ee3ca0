"""The corpus view's work: every case run as `guardrails test` runs it, judged by the
same code (corpus.case_problems), beside the snapshot syrupy stored for it.

A case runs through `Policy.evaluate` and a real cpex manager, as in the test run,
so the text compared with the snapshot is the one `guardrails test` compares.
Snapshots are read from <corpus>/__snapshots__/<hook>.ambr with syrupy's own reader
and compared in syrupy's serialized form (what `snapshot == text` compares).
"""

from __future__ import annotations

import asyncio
import difflib
import logging
from pathlib import Path
from typing import Any

from ...diagnostics import RulesError
from ..casejudge import CaseJudge
from ..corpus import (
    CorpusError,
    case_files,
    case_problems,
    describe_outcome,
    hook_dirs,
    load_case,
    render,
    run_case,
)
from ..seeding import CaseStore
from .state import ConsoleState
from .workbench import Edits, WorkbenchError, diagnostic_json, policy


class Snapshots:
    """The stored snapshots of one corpus, one .ambr file per hook, read once."""

    def __init__(self, corpus: Path) -> None:
        self.folder = corpus / "__snapshots__"
        self._by_hook: dict[str, dict[str, str]] = {}
        try:
            from syrupy.extensions.amber.serializer import AmberDataSerializer
        except ImportError:
            self.serializer: Any = None
        else:
            self.serializer = AmberDataSerializer

    @property
    def available(self) -> bool:
        return self.serializer is not None

    def stored(self, hook: str, name: str) -> str | None:
        """The serialized snapshot of case `name`, None when it has none."""
        if hook not in self._by_hook:
            path = self.folder / f"{hook}.ambr"
            found: dict[str, str] = {}
            if path.is_file():
                found = {s.name: s.data for s in self.serializer.read_file(str(path))}
            self._by_hook[hook] = found
        return self._by_hook[hook].get(f"test_case[{name}]")

    def matches(self, stored: str | None, text: str) -> bool:
        return stored is not None and self.serializer.serialize(text) == stored


def unwrap(stored: str) -> str:
    """The text of a serialized multi-line string snapshot."""
    if stored.startswith("'''\n") and stored.endswith("\n'''"):
        return stored[4:-4]
    return stored


def run_corpus(state: ConsoleState, edits: Edits | None = None) -> dict[str, Any]:
    """Every case of --corpus with what `guardrails test` would say of it."""
    if state.corpus is None:
        return {"corpus": None, "snapshots": False, "cases": [], "failing": 0}
    try:
        rules = policy(state, edits, state=CaseStore(), judge=CaseJudge())
    except RulesError as err:
        raise WorkbenchError(
            "rules_have_errors",
            "the rules have errors: `guardrails test` would not run a case",
            422,
            diagnostics=[diagnostic_json(d) for d in err.diagnostics],
        ) from None
    snapshots = Snapshots(state.corpus)
    logging.getLogger("cpex").setLevel(logging.ERROR)  # blocks are expected here
    manager = asyncio.run(rules.manager())
    cases = [
        _judge(rules, manager, snapshots, hook_dir.name, path)
        for hook_dir in hook_dirs(state.corpus)
        for path in case_files(hook_dir)
    ]
    return {
        "corpus": str(state.corpus),
        "snapshots": snapshots.available,
        "cases": cases,
        "failing": sum(c["status"] != "pass" for c in cases),
    }


def _judge(rules: Any, manager: Any, snapshots: Snapshots, hook: str, path: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"id": f"{hook}/{path.stem}", "hook": hook, "name": path.stem}
    try:
        case = load_case(path, hook)
        result = run_case(rules, case, manager)
    except CorpusError as err:
        return {**row, "status": "error", "problems": [str(err)]}
    text = render(result)
    stored = snapshots.stored(hook, case.name) if snapshots.available else None
    # without syrupy no snapshot is compared: the expectations and cpex still are
    matched = snapshots.matches(stored, text) if snapshots.available else True
    old = unwrap(stored) if stored is not None else None
    problems = case_problems(result, text, matched, old)
    diff = []
    if not matched and old is not None:
        diff = list(
            difflib.unified_diff(
                old.splitlines(), text.splitlines(), "snapshot", "now", lineterm="", n=2
            )
        )
    return {
        **row,
        "description": case.description,
        "expect": [e.text for e in case.expect],
        "outcome": describe_outcome(result.verdict),
        "status": "fail" if problems else "pass",
        "problems": problems,
        "snapshot": old,
        "current": text,
        "diff": diff,
    }


def list_cases(state: ConsoleState) -> list[dict[str, str]]:
    """The corpus's cases by hook and name, without running them."""
    if state.corpus is None:
        return []
    return [
        {"hook": hook_dir.name, "name": path.stem}
        for hook_dir in hook_dirs(state.corpus)
        for path in case_files(hook_dir)
    ]


def case_text(state: ConsoleState, hook: str, name: str) -> dict[str, Any]:
    """A case file's text, to load into the playground."""
    if state.corpus is None:
        raise WorkbenchError("no_corpus", "no corpus: start `guardrails ui ... --corpus DIR`", 404)
    for hook_dir in hook_dirs(state.corpus):
        if hook_dir.name == hook:
            for path in case_files(hook_dir):
                if path.stem == name:
                    return {"hook": hook, "name": name, "text": path.read_text(encoding="utf-8")}
    raise WorkbenchError("not_found", f"no case {hook}/{name} in {state.corpus}", 404)
