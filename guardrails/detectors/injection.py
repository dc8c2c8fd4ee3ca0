"""`injection(text)`: a prompt-injection score in [0, 1], from weighted heuristics.

No library was measured to fit: the usable classifiers are transformer models, a
download at run time, which the offline rule (and CI) forbids. This pack is pattern
families over the `normalize()`d text (case, fullwidth and look-alike letters,
zero-width characters do not hide a phrase), each with a weight; the score is
`1 - prod(1 - w)` over the families that match, so one strong signal (an instruction
override, 0.9) passes 0.8 alone and weak ones (a fake `system:` marker, 0.5) need
company. What it catches and misses is in docs/detectors.md, measured in
docs/performance.md. It needs no third-party library: the extra is empty.
"""

from __future__ import annotations

from typing import Any

import re2

from ..check.detectors import Detector, Scanner
from ..runtime.unicode import normalize_text

_ = r"[\s_.\-]+"  # a word gap: joined words (ignore_previous) count too


def _words(*alternatives: str) -> str:
    return "(?:" + "|".join(a.replace(" ", _) for a in alternatives) + ")"


GAP = r"(?:[\s_.\-,:;'\"]+\S+){0,4}?[\s_.\-,:;'\"]+"  # up to four words in between


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    return options


# RE2, as for the rules' own patterns: matching is linear in the text. Under Python's
# `re` the word gaps backtracked: 47 characters ("ignore" then `._` twenty times) took
# 24 s, and `\S+@\S+` over a long run of `a@` was quadratic.
FAMILIES: tuple[tuple[str, float, Any], ...] = tuple(
    (name, weight, re2.compile(pattern, _options()))
    for name, weight, pattern in (
        (
            "override",
            0.9,
            r"\b"
            + _words(
                "ignore",
                "disregard",
                "forget",
                "override",
                "bypass",
                "do not follow",
                "don't follow",
                "stop following",
            )
            + GAP
            + _words(
                "previous",
                "prior",
                "above",
                "earlier",
                "preceding",
                "original",
                "initial",
                "system",
                "your",
                "all",
            )
            + GAP.replace("{0,4}", "{0,2}")
            + r"(?:instructions?|prompts?|rules|directions|directives|guidelines|"
            r"programming|training|task|context)\b",
        ),
        (
            "override_short",
            0.85,
            r"\b(?:ignore|disregard|forget)\b.{0,30}?\b(?:the |everything )?(?:above|previous|"
            r"prior|earlier|before)\s*(?:and\b|[.,;:!]|$)",
        ),
        (
            "rules_off",
            0.85,
            r"\b(?:no longer bound by|free (?:of|from) (?:all |any |your |the )?(?:\w+ )?"
            r"(?:rules|restrictions|polic\w+|guidelines|filters)|(?:have|with|had) no "
            r"(?:rules|restrictions|filters|limits|guidelines))",
        ),
        (
            "override_other_languages",
            0.9,
            r"\b(?:ignora(?:r)?\s+(?:todas\s+)?las\s+instrucciones|ignoriere\s+(?:alle\s+)?"
            r"(?:vorherigen\s+)?anweisungen|ignore[rz]?\s+(?:toutes\s+)?les\s+instructions"
            r"|ignora\s+(?:tutte\s+)?le\s+istruzioni)",
        ),
        (
            "unrestricted_persona",
            0.85,
            r"\b(?:you are now|from now on|act as|pretend|roleplay as|respond as|stop being"
            r"|you will now|you are no longer|you must now)\b.{0,80}?"
            r"\b(?:no|without|free of|unrestricted|unfiltered|uncensored|jailbr\w*|dan|"
            r"do anything now|developer mode|god mode|evil\w*|no longer bound|opposite)\b"
            r".{0,40}?\b(?:rules?|restrictions?|filters?|limits?|guidelines|polic(?:y|ies)|"
            r"mode|confines|bot|gpt|ai)\b",
        ),
        (
            "jailbreak_names",
            0.6,
            r"\b(?:dan|antigpt|freedomgpt|evilbot|jailbreak|god mode|developer mode)\b",
        ),
        (
            "prompt_leak",
            0.85,
            r"\bwhat (?:was|is|would|does)\s+(?:\S+\s+){0,3}?(?:(?:your|the) (?:system "
            r"prompt|system message|initial instructions|hidden instructions)|beginning of "
            r"this conversation)|"
            r"\b(?:reveal|print|show|repeat|output|display|leak|tell me)\b"
            r".{0,60}?\b(?:system (?:prompt|message)|(?:initial|original|hidden|secret) "
            r"(?:instructions|rules|prompt)|your instructions|context window|the text above|"
            r"beginning of this conversation|raw system)",
        ),
        (
            "role_markers",
            0.6,
            r"(?:^|\n)\s*(?:system|assistant)\s*:|</?(?:system|user|assistant)>|\[/?inst\]"
            r"|<</?sys>>|###\s*(?:instruction|system)",
        ),
        (
            "new_instructions",
            0.6,
            r"\b(?:new|updated|important(?: new)?) (?:system )?(?:instructions|prompt|"
            r"task|directive)s?\s*:|\bnew system prompt\b|\boverride\b|"
            r"\bnew instructions follow\b",
        ),
        (
            "safety_off",
            0.7,
            r"\b(?:(?:safety|content) (?:mode|filters?|policy|training)\b.{0,20}?"
            r"\b(?:disabled|off|removed|ignored)|ignore your safety|without (?:any )?"
            r"(?:ethical|safety|moral) (?:guidelines|restrictions|training)|"
            r"(?:no|remove all|without any) (?:restrictions|filters)|nothing is off limits)",
        ),
        (
            "addressed_to_model",
            0.6,
            r"\b(?:note to|attention|message to|dear|hey) (?:the )?(?:ai|assistant|llm|model)"
            r"\b|\b(?:ai|assistant)(?: reading this(?: document)?)?\s*[:,]\s*(?:ignore|"
            r"disregard|forget|forward|send|do not)|\bassistant, ",
        ),
        (
            "covert_action",
            0.6,
            r"\b(?:send|forward|exfiltrate|email|post|upload)\b.{0,60}?(?:\S+@\S+\.\w+|"
            r"https?://\S+\?\w+=)|\bdo not mention\b|\bwithout telling\b|"
            r"\bcall [a-z_]+\(\)|\bexfiltrat\w*",
        ),
        (
            "admin_claim",
            0.4,
            r"\b(?:i am (?:the|your) (?:developer|admin\w*|creator|owner)|from your "
            r"(?:administrator|developer|creator)|debug mode|the user is an? admin\w*)\b",
        ),
    )
)


def score(text: str) -> float:
    normalized = normalize_text(text)
    remaining = 1.0
    for _name, weight, pattern in FAMILIES:
        if pattern.search(normalized):
            remaining *= 1.0 - weight
    return round(1.0 - remaining, 4)


def families(text: str) -> list[str]:
    """The families that match (for docs and tests)."""
    normalized = normalize_text(text)
    return [name for name, _, pattern in FAMILIES if pattern.search(normalized)]


def load() -> Scanner:
    return score


DETECTOR = Detector(
    "injection",
    "injection",
    load,
    (),
    "a prompt-injection score in [0, 1] from weighted phrase families",
)
