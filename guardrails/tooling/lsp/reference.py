"""What the editor says about the language's own words: functions, modes, keywords.

Signatures and one-line docs of the built-in functions are written here (the registry
in check/builtins.py holds typing rules, not text); a test keeps this table and the
registry's functions in step. Detectors are read from their registry, so a new pack
documents itself.
"""

from __future__ import annotations

from ...check.builtins import BUILTINS
from ...check.detectors import DETECTORS
from ...diagnostics import CODES
from ...runtime.hostfn import HostFunction
from ...runtime.modes import MODE_ALIASES, MODES

FUNCTIONS: dict[str, tuple[str, str]] = {
    "len": ("len(x: str | list | map) -> int", "length of a string, list or map"),
    "lower": ("lower(s: str) -> str", "the string in lower case"),
    "upper": ("upper(s: str) -> str", "the string in upper case"),
    "trim": ("trim(s: str) -> str", "the string without leading and trailing whitespace"),
    "normalize": (
        "normalize(s: str) -> str",
        "`s` folded for matching against evasion: NFKC, casefold, invisible characters "
        "removed, look-alike letters to Latin, whitespace runs to one space, trimmed",
    ),
    "basename": (
        "basename(s: str) -> str",
        'last component of a path: `basename("/bin/sh")` is `"sh"`',
    ),
    "text": ("text(x: any) -> str", "any value as one searchable text"),
    "tokens": (
        "tokens(x: str | list) -> int",
        "estimated tokens of a string or a list of chat messages",
    ),
    "min": ("min(a, b, ...) -> number", "the smallest of its arguments, or of one list"),
    "max": ("max(a, b, ...) -> number", "the largest of its arguments, or of one list"),
    "abs": ("abs(n: number) -> number", "the absolute value"),
    "exists": ("exists(path) -> bool", "whether the fact is present (not null)"),
    "lookup": (
        "lookup(map: map, key: any, default: any = null) -> any",
        "a `let` map's value for `key`; `default` (or null) when the key is missing",
    ),
    "values": ("values(map: map) -> list", "a map's values as a list, to quantify over"),
    "keys": ("keys(map: map) -> list", "a map's keys as a list, to quantify over"),
}

MODE_DOCS = {
    "sequential": "the default: can block (later rules are skipped) and change the payload",
    "transform": "cannot block (GR0231); its changes are seen by later rules",
    "audit": "records `would_block`, blocks nothing, changes nothing: shadow rollout",
    "concurrent": "can block, cannot change the payload; sees it after transforms",
    "fire_and_forget": "cannot block or change; runs even after a block, on the original facts",
}
ON_ERROR = {"fail": "a run-time error blocks the call (the default)",
            "ignore": "a run-time error is recorded and lets the call through"}  # fmt: skip
KEYWORD_DOCS = {
    "on": "the hooks the rule runs on", "mode": "how the rule runs (sequential, transform, ...)",
    "priority": "lower runs first (default 100)", "on_error": "fail or ignore run-time errors",
    "since": 'when the rule went into audit: `since "2026-11-21"`',
    "breaker": "a circuit breaker: `breaker 5 in 1m cooldown 30s` or `breaker off`",
    "when": "fire only when true", "unless": "never fire when true",
    "block": 'stop the call: `block ["reason"] [code CODE]`',
    "warn": 'allow, but record a violation: `warn ["reason"] [code CODE]`',
    "continue": "refuse an agent's exit (on_exit only)",
    "set": "`set PATH = EXPR`: write a writable fact",
    "redact": "`redact PATH PATTERN [with ...]`: replace matches in a writable fact",
    "add": "`add EXPR to COUNTER`", "track": "`track STREAK`",
    "append": "`append MESSAGE to messages`", "prepend": "`prepend MESSAGE to messages`",
    "replace": "`replace messages PATTERN with TEXT`",
}  # fmt: skip


def function_doc(name: str) -> tuple[str, str] | None:
    """(signature, doc) of a built-in function or detector; None for another name."""
    if name in FUNCTIONS:
        return FUNCTIONS[name]
    detector = DETECTORS.get(name)
    if detector is not None:
        doc = detector.doc + f" (the `{detector.extra}` extra)"
        return f"{name}(x: any) -> {detector.result}", doc
    entry = BUILTINS.functions.get(name)
    if entry is not None:
        low, high = entry.arity
        args = ", ".join(f"x{i + 1}" for i in range(low)) + (", ..." if high is None else "")
        return f"{name}({args})", ""
    return None


def host_doc(fn: HostFunction) -> tuple[str, str]:
    """(signature, doc) of a host function (`--functions`, the judge's pack)."""
    doc = fn.doc or "a host function: the app's code, declared with `--functions`"
    if fn.missing is not None:
        doc += f"\n\nNot runnable as declared ({fn.missing}); `guardrails lsp --judge` "
        doc += "declares it with one."
    return fn.signature(), doc


def is_detector(name: str) -> bool:
    return name in DETECTORS


def function_names() -> list[str]:
    return sorted(BUILTINS.functions)


def mode_names() -> list[tuple[str, str]]:
    out = [(name, MODE_DOCS.get(name, "")) for name in MODES]
    out += [
        (alias, f"alias: {mode}, on_error {err}") for alias, (mode, err) in MODE_ALIASES.items()
    ]
    return out


def code_doc(code: str) -> str | None:
    """A diagnostic code's explanation, as `guardrails check` and docs/language.md name it."""
    title = CODES.get(code)
    if title is None:
        return None
    if code in lint_codes():
        kind = "a warning (lint): `# guardrails: ignore[CODE]` on the line silences it"
    else:
        kind = "an error: it cannot be switched off"
    return f"**{code}**: {title}\n\n{kind} (docs/language.md, Diagnostics)"


def code_title(code: str) -> str:
    return CODES.get(code, "")


def lint_codes() -> list[str]:
    """The codes an ignore comment or `--disable` can switch off (as `check` says)."""
    return sorted(c for c in CODES if c.startswith("GR03"))
