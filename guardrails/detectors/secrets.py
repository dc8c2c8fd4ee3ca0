"""`secrets(text)`: credentials, found by the ContextForge gateway's Rust secrets
detector (`cpex-secrets-detection`) plus a few shapes it lacks (OpenAI keys, passwords
in URLs and `password = ...` assignments, npm/Hugging Face/webhook tokens, HTTP basic
auth), which the figures in docs/performance.md show it missing.

The library reports what it found but not where; it can redact, though, so the spans
are read back from a redaction with a marker character, and checked: a rebuilt
redaction that differs from the library's raises (an `error` verdict), so a span is
never guessed. detect-secrets was measured too and left out: its entropy plugins flag
most English words on the sample, at 400x the cost.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from typing import Any

import re2

from ..check.detectors import Detector, Scanner
from ..runtime.findings import Finding
from .spans import finding, ordered, seeing_through_invisibles

TYPES = {
    "aws_access_key_id": "AWS_ACCESS_KEY",
    "aws_secret_access_key": "AWS_SECRET_KEY",
    "google_api_key": "GOOGLE_API_KEY",
    "github_token": "GITHUB_TOKEN",
    "stripe_secret_key": "STRIPE_KEY",
    "generic_api_key_assignment": "API_KEY",
    "slack_token": "SLACK_TOKEN",
    "private_key_block": "PRIVATE_KEY",
    "jwt_like": "JWT",
}
# hex_secret_32 and base64_24 stay off: on the sample they flag every hash and digest
CONFIG: dict[str, Any] = {
    "enabled": {"generic_api_key_assignment": True, "jwt_like": True},
    "redact": True,
}


# (type, pattern, the group that is the secret, score)
def _linear(pattern: str) -> Any:
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


# RE2, as for the rules' own patterns: under Python's `re` the URL pattern rescanned the
# rest of the text from every word ("a." twenty thousand times took 2 s, a megabyte
# half an hour)
EXTRA: tuple[tuple[str, Any, int, float], ...] = (
    ("OPENAI_KEY", _linear(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}"), 0, 1.0),
    ("PASSWORD", _linear(r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:([^\s:/@]{4,})@"), 1, 0.9),
    (
        "PASSWORD",
        _linear(
            # no \b before the name: it may end a longer one (OPENAI_API_KEY=,
            # db_password:, accessToken=)
            r"(?i)(?:password|passwd|pwd|client_secret|secret|"
            r"api[_-]?key|x-api-key|auth[_-]?token|token)[\"']?\s*[:=]\s*[\"']?"
            r"([^\s\"'<>{}()\[\]$,;]{6,})"
        ),
        1,
        0.7,
    ),
    (
        "API_KEY",
        _linear(
            r"\b(?:npm_[A-Za-z0-9]{36}|hf_[A-Za-z]{30,}|whsec_[A-Za-z0-9]{24,}|"
            r"[sr]k_live_[A-Za-z0-9]{24,}|github_pat_[A-Za-z0-9_]{22,})\b"
        ),
        0,
        1.0,
    ),
    ("BASIC_AUTH", _linear(r"\bBasic\s+([A-Za-z0-9+/]{12,}={0,2})"), 1, 0.9),
)
# documentation placeholders (AKIAIOSFODNN7EXAMPLE, xoxb-your-token-here) and code
_PLACEHOLDER = re.compile(r"(?i)example|your[-_]|[-_]here\b|x{6,}|^\*+$|environ|getenv")
# how far before a value its key name may start (`aws_secret_access_key = ...`)
_KEY_WINDOW = 256
_MARKER = "\ufdd0"  # a noncharacter


def spans_from_redaction(text: str, redacted: str, marker: str) -> list[tuple[int, int]]:
    """Where the library cut, read from its redaction (each span became one `marker`;
    touching spans come back as one). Raises when the redaction does not fit the text."""
    head, *middle, tail = redacted.split(marker)
    limit = len(text) - len(tail)
    if not (text.startswith(head) and text.endswith(tail) and len(head) < limit):
        raise ValueError("secrets: the library's redaction does not match its input")
    spans: list[tuple[int, int]] = []
    start = len(head)
    for part in middle:
        if not part:
            continue  # two spans touching
        end = text.find(part, start + 1, limit)
        if end < 0:
            raise ValueError("secrets: could not place the library's findings in the text")
        spans.append((start, end))
        start = end + len(part)
    if start >= limit:
        raise ValueError("secrets: could not place the library's findings in the text")
    spans.append((start, limit))
    return spans


def load() -> Scanner:
    from cpex_secrets_detection.secrets_detection_rust import py_scan_container

    def library(text: str) -> list[Finding]:
        # the marker, where the text has it, is scanned as U+FFFD (one character for
        # one, so the spans stand): a text holding every marker was an error verdict
        # its sender could cause at will (and so trip a breaker, or pass an
        # `on_error ignore` rule); no secret has a noncharacter in it
        scanned = text.replace(_MARKER, "\ufffd") if _MARKER in text else text
        count, redacted, _ = py_scan_container(scanned, {**CONFIG, "redaction_text": _MARKER})
        if not count:
            return []
        out = []
        for start, end in spans_from_redaction(scanned, redacted, _MARKER):
            kind = _kind(py_scan_container, scanned, start, end)
            out.append(finding(text, TYPES.get(kind, kind.upper()), 1.0, start, end))
        return out

    return seeing_through_invisibles(make_scan(library))


def _kind(scan: Callable[..., Any], text: str, start: int, end: int) -> str:
    """What the library found at a span: the span alone, or with what precedes it on
    its line (at most `_KEY_WINDOW` characters) for the kinds that need their key's
    name (`api_key: ...`). Nothing there means the span was misplaced, which raises
    rather than redact the wrong characters. The window is bounded: the whole line
    before each span made a one-line text of n secrets cost n^2 (a megabyte of
    `key = value` pairs held a worker for minutes, past any time budget)."""
    earliest = max(0, start - _KEY_WINDOW)
    line = max(text.rfind("\n", earliest, start) + 1, earliest)
    for window in (text[start:end], text[line:end]):
        kinds = scan(window, {**CONFIG, "redact": False})[2]
        if kinds:
            return str(kinds[0]["type"])
    raise ValueError("secrets: could not place the library's findings in the text")


def make_scan(library: Callable[[str], list[Finding]]) -> Scanner:
    def scan(text: str) -> tuple[Finding, ...]:
        found = library(text)
        # the spans taken so far, disjoint and sorted, so a match's overlap test is a
        # bisection (a scan of every finding made a megabyte of secrets quadratic)
        taken = sorted((f.start, f.end) for f in found)
        starts, ends = [s for s, _ in taken], [e for _, e in taken]
        for kind, pattern, group, score in EXTRA:
            for m in pattern.finditer(text):
                start, end = m.span(group)
                i = bisect.bisect_left(starts, end)
                if end > start and not (i and ends[i - 1] > start):
                    found.append(finding(text, kind, score, start, end))
                    starts.insert(i, start)
                    ends.insert(i, end)
        return ordered(f for f in found if not _PLACEHOLDER.search(f.text))

    return scan


DETECTOR = Detector(
    "secrets",
    "secrets",
    load,
    (*TYPES.values(), "OPENAI_KEY", "PASSWORD", "BASIC_AUTH"),
    "credentials: cloud and SaaS keys, tokens, private keys, passwords",
)
