"""Detectors: built-in functions whose work is done by an optional library.

`secrets(x)`, `pii(x)` and `injection(x)` are registered here by name, typed, and
bound per load to the text size cap, like `matches`. The scanners themselves live in
`guardrails/detectors/` (an edge package: it imports third-party libraries, lazily),
which adds a `Detector` per pack when `guardrails.policy` is imported, the way the
hosts' hook tables are added. The checker asks a detector to load its library when a
rule calls it, so a missing extra is a diagnostic at the call (GR0275) when the rules
are loaded, never a crash or a silent pass when a call arrives.

A scan result is cached per text (a small LRU of texts up to 64K characters): the
scanners are deterministic, and a hook's rules often ask the same question twice
(`when pii(output) ...` then `redact output pii`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..extras import install_hint
from ..runtime.findings import Finding
from ..runtime.ops import RuleTypeError, check_size
from ..runtime.program import Redact
from ..runtime.text import text as text_of
from ..syntax import ast
from .builtins import BUILTINS, Builtin
from .ir import IR, Op
from .types import FINDING, FLOAT, Type, list_of

if TYPE_CHECKING:
    from .exprs import ExprChecker
    from .names import LetTable

# text -> findings (secrets, pii) or a score in [0, 1] (injection)
Scanner = Callable[[str], "tuple[Finding, ...] | float"]

CACHE_SIZE = 64
CACHE_MAX_CHARS = 65_536


@dataclass(frozen=True)
class Detector:
    """One pack. `load` imports the library and returns the scanner; it raises
    (ImportError, or whatever the library raises when it cannot start) when the pack
    is unusable. `entities` are the types its findings can have (for
    `redact x pii("US_SSN")`); empty for a score."""

    name: str
    extra: str
    load: Callable[[], Scanner]
    entities: tuple[str, ...] = ()
    doc: str = ""

    @property
    def scores(self) -> bool:
        return not self.entities

    @property
    def result(self) -> Type:
        return FLOAT if self.scores else list_of(FINDING)

    @property
    def install_hint(self) -> str:
        return install_hint(self.extra)

    def scanner(self) -> Scanner:
        """The loaded scanner, cached per detector (a failed load is not cached:
        installing the extra and reloading the rules is enough)."""
        return _loaded(self)


@functools.cache
def _loaded(detector: Detector) -> Scanner:
    scan = detector.load()
    cached = functools.lru_cache(maxsize=CACHE_SIZE)(scan)

    def run(text: str) -> tuple[Finding, ...] | float:
        # a long text is scanned each time: 64 cached megabyte texts would be 64 MB kept
        try:
            return cached(text) if len(text) <= CACHE_MAX_CHARS else scan(text)
        except UnicodeError:  # a lone surrogate: the payload's doing, not the detector's
            raise RuleTypeError(
                f"{detector.name}() cannot scan a text holding a lone surrogate"
            ) from None

    return run


DETECTORS: dict[str, Detector] = {}


def missing(detector: Detector) -> str | None:
    """Why the detector cannot run here (the import error), or None."""
    try:
        detector.scanner()
    except Exception as exc:  # an ImportError, or a library that fails to start
        return f"{type(exc).__name__}: {exc}"
    return None


def scan(detector: Detector, value: object, max_chars: int) -> Any:
    """What a rule's `pii(x)` returns: null for null, else the findings (or score) of
    the value's text. Over the text cap it raises, an `error` verdict like `matches`."""
    text = text_of(value, max_chars)
    if text is None:
        return None
    check_size(text, max_chars)
    return detector.scanner()(text)


def finder(detector: Detector, entities: Sequence[str]) -> Callable[[str], list[Finding]]:
    """The spans a `redact x pii(...)` rewrites: the findings, of the listed types
    only when some are listed."""
    wanted = frozenset(entities)

    def find(text: str) -> list[Finding]:
        found = detector.scanner()(text)
        assert isinstance(found, tuple)
        return [f for f in found if not wanted or f in wanted]

    find.__qualname__ = f"{detector.name}({', '.join(entities)})"
    find.spec = (detector.name, tuple(entities))  # type: ignore[attr-defined]  # the cache's form
    return find


def finder_of(spec: object) -> Callable[[str], list[Finding]]:
    """A finder again from its `spec` (the ruleset cache: compile/serial.py)."""
    if not (isinstance(spec, list | tuple) and len(spec) == 2 and spec[0] in DETECTORS):
        raise ValueError("not a detector's finder")
    name, entities = spec
    if not all(type(e) is str for e in entities):
        raise ValueError("not a detector's finder")
    return finder(DETECTORS[name], tuple(entities))


def _check(detector: Detector) -> Any:
    def check(c: ExprChecker, name: str, node: ast.Call, operands: tuple[ast.Expr, ...]) -> IR:
        args = tuple(c.check(o) for o in operands)
        why = missing(detector)
        if why is not None:
            c.error(
                "GR0275",
                f"{name}() needs the optional extra '{detector.extra}', which is not "
                f"usable here ({why})",
                node.span,
                hint=detector.install_hint,
            )
        return Op(name, args, detector.result)

    return check


def add_detectors(detectors: Sequence[Detector]) -> None:
    """Register packs as built-in functions (idempotent per name)."""
    for detector in detectors:
        if detector.name in DETECTORS:
            continue
        DETECTORS[detector.name] = detector

        def bind(max_chars: int, detector: Detector = detector) -> Callable[[object], Any]:
            def run(value: object) -> Any:
                return scan(detector, value, max_chars)

            run.__name__ = detector.name
            return run

        BUILTINS.add(
            Builtin(
                detector.name,
                "function",
                _check(detector),
                None,
                f"_{detector.name}",
                bind=bind,
            )
        )


OPERATORS = ("mask", "hash")


def redaction_operator(action: ast.Redact, c: ExprChecker) -> str:
    """`with mask` / `with hash`; anything else named is a mistake (GR0279)."""
    if action.operator is None:
        return "replace"
    if action.operator not in OPERATORS:
        c.error(
            "GR0279",
            f"unknown redaction operator '{action.operator}'",
            action.span,
            hint='use `with mask`, `with hash` or `with "text"`',
        )
        return "replace"
    return action.operator


def redaction(
    action: ast.Redact, path: tuple[str | int, ...], c: ExprChecker, lets: LetTable
) -> Redact | None:
    """`redact x pii` / `redact x pii("US_SSN")`: the detector's spans; None when the
    pattern names no detector (a let of the same name wins: it was there first)."""
    node = action.pattern
    args: tuple[ast.Expr, ...] = ()
    if isinstance(node, ast.Name) and node.name in DETECTORS and node.name not in lets:
        detector = DETECTORS[node.name]
    elif isinstance(node, ast.Call) and node.func.name in DETECTORS:
        detector, args = DETECTORS[node.func.name], tuple(node.args)
    else:
        return None
    operator = redaction_operator(action, c)
    if detector.scores:
        c.error(
            "GR0278",
            f"{detector.name}() gives a score, not spans: there is nothing to cut out",
            node.span,
            hint=f"block instead: `when {detector.name}(...) > 0.8 block`",
        )
        return Redact(path, (), action.replacement, operator=operator)
    entities: list[str] = []
    for arg in args:
        value: object = arg.value if isinstance(arg, ast.Literal) else None
        if not isinstance(value, str) or value not in detector.entities:
            c.error(
                "GR0277",
                f"{detector.name}() has no entity type {value!r}"
                if isinstance(value, str)
                else f"{detector.name}(...) in a redact takes entity types as strings",
                arg.span,
                hint="its types are " + ", ".join(detector.entities),
            )
            continue
        entities.append(value)
    why = missing(detector)
    if why is not None:
        c.error(
            "GR0275",
            f"redact by {detector.name} needs the optional extra '{detector.extra}', which "
            f"is not usable here ({why})",
            node.span,
            hint=detector.install_hint,
        )
    return Redact(
        path,
        (),
        action.replacement,
        finder=finder(detector, entities),
        operator=operator,
    )
