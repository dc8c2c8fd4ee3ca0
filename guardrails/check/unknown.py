"""What an unknown name or fact reports: the likeliest fix, never a bare "unknown"."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from ..source import Span
from ..syntax import ast
from .catalog import HookSpec
from .hostcalls import HOST_HINT, PACKS
from .ir import PathKey
from .types import Type

if TYPE_CHECKING:
    from .exprs import ExprChecker


def report_unknown(
    checker: ExprChecker, root: ast.Name, path: tuple[PathKey, ...], span: Span
) -> None:
    """GR0201/GR0202 for a name or path the hook does not have, with the likeliest
    fix: the fact on another hook, a near spelling, or the hook's facts."""
    dotted = ".".join(str(k) for k in path if isinstance(k, str))
    facts = list(checker.hook.facts)
    other_hooks = checker.elsewhere(dotted)
    if other_hooks and not difflib.get_close_matches(dotted, facts, n=1, cutoff=0.7):
        shown = ", ".join(other_hooks[:4]) + (", ..." if len(other_hooks) > 4 else "")
        checker.error(
            "GR0202" if len(path) == 1 else "GR0201",
            f"'{dotted}' is not a fact of hook {checker.hook.name}",
            span,
            hint=f"'{dotted}' exists on {shown}",
        )
        return
    if len(path) == 1:
        candidates = facts + list(checker.lets.lets)
        close = difflib.get_close_matches(root.name, candidates, n=1, cutoff=0.7)
        hint = f"did you mean '{close[0]}'?" if close else _facts_hint(checker.hook)
        constant = _CONSTANTS.get(root.name.lower())
        if constant is not None:
            hint = f"did you mean `{constant}`? (constants are lower case)"
        elif not close and _compared(span):
            hint = (
                f'to mean the text, quote it: `"{root.name}"` (a bare name is a fact: '
                f"`guardrails hooks {checker.hook.name}` lists them)"
            )
        checker.error(
            "GR0202", f"unknown name '{root.name}' on hook {checker.hook.name}", span, hint=hint
        )
        return
    close = difflib.get_close_matches(dotted, facts, n=1, cutoff=0.7)
    checker.error(
        "GR0201",
        f"unknown fact '{dotted}' on hook {checker.hook.name}",
        span,
        hint=f"did you mean '{close[0]}'?" if close else _facts_hint(checker.hook),
    )


_CONSTANTS = {"true": "true", "false": "false", "none": "null", "nil": "null", "null": "null"}
# what a name that stands where text is usually written follows or precedes
_COMPARED_BEFORE = ("==", "!=", "contains", "startswith", "endswith", " in", "[", ",")
_COMPARED_AFTER = ("==", "!=", "in ", "contains ", "startswith ", "endswith ", "]", ",")


def _compared(span: Span) -> bool:
    """The name is an operand of `==`, `in`, `contains`... or an item of a list: the
    place a bare word most often is text that lost its quotes (`model == gpt4`)."""
    text = span.file.text
    line_start = text.rfind("\n", 0, span.start) + 1
    line_end = text.find("\n", span.end)
    before = text[line_start : span.start].rstrip()
    after = text[span.end : line_end if line_end >= 0 else len(text)].lstrip()
    return before.endswith(_COMPARED_BEFORE) or after.startswith(_COMPARED_AFTER)


def _facts_hint(hook: HookSpec) -> str:
    order = {"normalized": 0, "context": 1, "field": 2}
    names = sorted(hook.facts, key=lambda n: (order[hook.facts[n].kind], n))
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"facts on {hook.name}: {shown} (see `guardrails hooks {hook.name}`)"


# what other languages call a built-in: the name here
_FUNCTIONS = {
    **dict.fromkeys(("size", "length", "count", "strlen", "len_of"), "len"),
    **dict.fromkeys(("lowercase", "tolower", "to_lower", "lcase", "downcase"), "lower"),
    **dict.fromkeys(("uppercase", "toupper", "to_upper", "ucase", "upcase"), "upper"),
    **dict.fromkeys(("strip", "trimspace"), "trim"),
    **dict.fromkeys(("has", "defined", "present", "isset"), "exists"),
}


def function_hint(name: str, known: list[str]) -> str:
    """GR0203's hint: the function meant, or the list of them."""
    other = _FUNCTIONS.get(name.lower())
    if other is not None and other in known:
        return f"did you mean `{other}`?"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if name in PACKS:
        return f"{name}() is {PACKS[name]}"
    return "functions: " + ", ".join(sorted(known)) + "; " + HOST_HINT


def report_no_field(checker: ExprChecker, path: str, ftype: Type, key: PathKey, span: Span) -> None:
    """GR0201 for `prompt.length`: a field of something that has none. A method
    written as a field (`.length`, `.lower`) is pointed at the function."""
    function = _FUNCTIONS.get(str(key).lower(), str(key).lower())
    hint = None
    if function in ("len", "lower", "upper", "trim") and ftype.kind in ("str", "list", "map"):
        hint = f"call the function: `{function}({path})`"
    checker.error("GR0201", f"'{path}' is {ftype}; it has no field '{key}'", span, hint=hint)
