"""The playground's work, without the web: the ruleset with one file as edited,
checked as `check` checks it and evaluated as `eval --explain` evaluates a payload.

An edit is never written here: the edited text replaces its file's text in memory,
next to the other files of RULES as they are on disk, so diagnostics that depend on
another file (a duplicate rule id, a state declared elsewhere) are the ones `check`
would give once the file is saved.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...check.catalog import DEFAULT_CATALOG
from ...diagnostics import Diagnostic, GuardrailsError, RulesError
from ...policy.frontend import check_sources
from ...policy.loading import Options, compile_sources
from ...policy.policy import Policy
from ...source import SourceFile
from ..eval_text import PayloadError, evaluate, read_payload
from ..explain import explain
from .state import ConsoleState

Edits = Mapping[str, str]  # file name (as `files` lists it) -> its edited text


class WorkbenchError(GuardrailsError):
    """A request the playground cannot carry out; `code` is the API's error code."""

    def __init__(self, code: str, message: str, status: int = 400, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.extra = extra


def file_names(state: ConsoleState) -> dict[str, Any]:
    """The ruleset's files by the names diagnostics give them (relative to RULES)."""
    root = state.rules_root
    return {str(p.relative_to(root)): p for p in state.rules_files()}


def sources(state: ConsoleState, edits: Edits | None = None) -> list[SourceFile]:
    """The ruleset's files as on disk, with `edits` in place of theirs; an edit naming
    a file that is not on disk is a new file of the ruleset."""
    edits = dict(edits or {})
    files = []
    for name, path in file_names(state).items():
        text = edits.pop(name) if name in edits else path.read_text(encoding="utf-8")
        files.append(SourceFile(name, text))
    files.extend(SourceFile(name, text) for name, text in sorted(edits.items()))
    return files


def diagnostics(state: ConsoleState, edits: Edits | None = None) -> list[Diagnostic]:
    """What `check RULES` would report with `edits` saved."""
    try:
        files = sources(state, edits)
    except (OSError, UnicodeDecodeError) as err:
        raise WorkbenchError("unreadable_rules", f"cannot read the rules: {err}", 500) from None
    return check_sources(
        files, functions=state.options.get("functions"), judge=state.options.get("judge")
    )


def policy(state: ConsoleState, edits: Edits | None = None, /, **options: Any) -> Policy:
    """The ruleset with `edits`, compiled as `load` compiles it (raises RulesError).
    An edit is never cached: the ruleset cache is on disk, and an edit is not saved."""
    keywords = {
        "functions": state.options.get("functions"),
        "judge": state.options.get("judge"),
        "cache": False if edits else None,
        **options,
    }
    chosen = Options.of("load", keywords)
    return Policy(compile_sources(sources(state, edits), [], chosen), chosen)


def diagnostic_json(diag: Diagnostic) -> dict[str, Any]:
    return {**diag.to_dict(), "rendered": diag.render()}


@dataclass(frozen=True)
class Result:
    """What Evaluate shows: the verdict, each rule's result, the `--explain` trace."""

    verdict: dict[str, Any]
    explanation: str
    state: list[str]
    warnings: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "explanation": self.explanation,
            "state": self.state,
            "warnings": self.warnings,
        }


def evaluate_payload(state: ConsoleState, edits: Edits, hook: str | None, payload: str) -> Result:
    """`guardrails eval RULES --hook HOOK --payload FILE --explain` with the edited rules:
    the payload is facts or a case file (its `hook`, `now` and `state` taken as eval
    takes them). Raises WorkbenchError for an unknown hook, a bad payload, or rules
    with errors (their diagnostics attached)."""
    try:
        facts, prior = read_payload(io.StringIO(payload))
    except PayloadError as err:
        raise WorkbenchError("bad_payload", str(err)) from None
    hook = _hook(hook, prior.get("hook"))
    unknown = DEFAULT_CATALOG.unknown_facts(hook, facts)
    if unknown:  # a misspelt fact would be a false pass
        raise WorkbenchError("unknown_fact", "payload fact " + "; payload fact ".join(unknown))
    try:
        rules = policy(state, edits)
    except RulesError as err:
        found = [diagnostic_json(d) for d in err.diagnostics]
        raise WorkbenchError(
            "rules_have_errors",
            "the rules have errors; fix them to evaluate",
            422,
            diagnostics=found,
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise WorkbenchError("unreadable_rules", f"cannot read the rules: {err}", 500) from None
    try:
        result = evaluate(rules, hook, facts, prior)
    except PayloadError as err:
        raise WorkbenchError("bad_payload", str(err)) from None
    trace = explain(rules, hook, facts, result.verdict, result.read)
    data = json.loads(json.dumps(result.verdict.to_dict(), default=str))
    return Result(data, trace, result.state, [diagnostic_json(d) for d in rules.warnings])


def _hook(given: str | None, in_payload: object) -> str:
    """The hook picked, else the case file's; both must agree and name a known hook."""
    if given and in_payload is not None and given != in_payload:
        raise WorkbenchError(
            "hook_mismatch", f"the hook picked is {given!r}, but the payload is a case of "
            f"{in_payload!r}; pick {in_payload!r} or remove the payload's \"hook\""
        )  # fmt: skip
    hook = given or in_payload
    if not isinstance(hook, str) or not hook:
        raise WorkbenchError("missing_hook", 'pick a hook (or give the payload a "hook")')
    if hook not in DEFAULT_CATALOG:
        suggestion = DEFAULT_CATALOG.suggest(hook)
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        raise WorkbenchError("unknown_hook", f"unknown hook {hook!r}{hint}")
    return hook


def hooks() -> list[dict[str, Any]]:
    """The catalog's hooks, with their facts (for the payload's template)."""
    return [
        {"name": spec.name, "origin": spec.origin, "facts": sorted(spec.facts)}
        for spec in DEFAULT_CATALOG
    ]
