"""The VS Code extension (editors/vscode/): its TextMate grammar colours what the Pygments lexer
colours, and `npm run package` builds an installable `.vsix`.

The grammar runs in the engine VS Code runs (vscode-textmate on vscode-oniguruma, through
editors/vscode/test/tokenize.js, one node process for every file), on every file of `rules/`
and `examples/policies/`, and is compared with `guardrails/tooling/highlight.py` character by
character, in classes (keyword, action, string, regex, number, ...) rather than scope names.

The differences that remain, on purpose (none occurs in the project's files):
- a construct split over lines (`rule` and its id, a call's name and its `(`, a quantifier and
  its `in`, `block` and its reason) is coloured by Pygments, not by the grammar, which sees one
  line at a time (ACROSS_LINES_DIFFERENCES);
- inside a comment, the grammar marks the codes of `# guardrails: ignore[CODE]` (still a comment).

These need node and editors/vscode/node_modules (`npm ci` there, no network afterwards); without
them they are skipped, unless GUARDRAILS_REQUIRE_VSCODE=1 (scripts/test.sh) makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from functools import cache
from pathlib import Path

import pytest
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    _TokenType,
)

from guardrails.check.detectors import DETECTORS
from guardrails.check.detectors import OPERATORS as REDACTION_OPERATORS
from guardrails.tooling import highlight
from guardrails.tooling.highlight import RulesLexer

ROOT = Path(__file__).resolve().parents[1]
VSCODE = ROOT / "editors" / "vscode"
GRAMMAR = VSCODE / "syntaxes" / "rules.tmLanguage.json"
FILES = sorted([*(ROOT / "rules").glob("*.rules"), *(ROOT / "examples/policies").glob("*.rules")])

# Pygments token types -> classes, the most specific first
PYGMENTS_CLASSES: tuple[tuple[_TokenType, str], ...] = (
    (Comment, "comment"),
    (Keyword.Declaration, "declaration"),
    (Keyword.Reserved, "action"),
    (Keyword.Constant, "constant"),
    (Keyword.Pseudo, "redaction-operator"),
    (Keyword, "keyword"),
    (String.Regex, "regex"),
    (String.Escape, "escape"),
    (String.Interpol, "interpolation"),
    (String, "string"),
    (Number, "number"),
    (Operator.Word, "word-operator"),
    (Operator, "operator"),
    (Name.Function, "rule-name"),
    (Name.Variable, "definition"),
    (Name.Builtin, "function"),
    (Punctuation, "punctuation"),
)  # anything else (Name, Text, Whitespace) is plain
# TextMate scopes -> classes: the first prefix any scope of a token's stack starts with
SCOPE_CLASSES: tuple[tuple[str, str], ...] = (
    ("comment.", "comment"),
    ("string.regexp.", "regex"),
    ("constant.character.escape.", "escape"),
    ("meta.interpolation.", "interpolation"),
    ("string.quoted.", "string"),
    ("storage.type.", "declaration"),
    ("entity.name.function.rule.", "rule-name"),
    ("variable.other.definition.", "definition"),
    ("keyword.control.action.", "action"),
    ("keyword.operator.word.", "word-operator"),
    ("keyword.operator.", "operator"),
    ("keyword.other.", "keyword"),
    ("constant.language.", "constant"),
    ("support.constant.redaction.", "redaction-operator"),
    ("support.function.", "function"),
    ("constant.numeric.", "number"),
    ("punctuation.", "punctuation"),
)
CLASSES = {c for _, c in PYGMENTS_CLASSES}
# no reason in the project's files has a `{{` or a backslash
ABSENT_FROM_FILES = {"escape"}
# escapes, and half-typed lines as an editor shows them while one types
EXTRA = """rule r
  on x
  block "a {{b}} \\" {c.d} e"
  warn "no end {x.y
  when x == "unterminated and y matches /abc
  when 12ab > 1.5e3 and 3ms < 2.5 or 'a\\'b' in tool.args.pii
  when count(m in messages) > 1 and any  m in x and all(
  redact tool.output secrets with hash breaker off breaker 5 in 1m cooldown 30s
"""
# constructs split over lines: Pygments' patterns match across the newline, a TextMate rule
# cannot (a grammar sees one line at a time), so these are the known differences
ACROSS_LINES = "rule\n  r1\n  when f\n  (x) and any\n  m in x\n"
ACROSS_LINES_DIFFERENCES = [
    "ACROSS_LINES:1:1: 'r' grammar keyword, Pygments declaration: rule",
    "ACROSS_LINES:2:3: 'r' grammar None, Pygments rule-name:   r1",
    "ACROSS_LINES:3:8: 'f' grammar None, Pygments function:   when f",
    "ACROSS_LINES:4:11: 'a' grammar None, Pygments keyword:   (x) and any",
]
IGNORE = "when x  # guardrails: ignore[GR101, GR2]"

Classes = list[str | None]  # per character of a line


def _engine_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (VSCODE / "node_modules" / "vscode-textmate").is_dir():
        return "editors/vscode/node_modules is missing: run `npm ci` in editors/vscode"
    return None


def _require(reason: str | None) -> None:
    if reason is None:
        return
    if os.environ.get("GUARDRAILS_REQUIRE_VSCODE") == "1":
        pytest.fail(f"{reason} (GUARDRAILS_REQUIRE_VSCODE=1 asks for these tests)")
    pytest.skip(reason)


@pytest.fixture
def engine() -> None:
    _require(_engine_reason())


def pygments_classes(text: str) -> list[Classes]:
    chars: Classes = [None] * len(text)
    for index, ttype, value in RulesLexer().get_tokens_unprocessed(text):
        cls = next((c for t, c in PYGMENTS_CLASSES if ttype in t), None)
        chars[index : index + len(value)] = [cls] * len(value)
    lines, start = [], 0
    for line in text.split("\n"):
        lines.append(chars[start : start + len(line)])
        start += len(line) + 1
    return lines


def scope_class(scopes: list[str]) -> str | None:
    return next((c for p, c in SCOPE_CLASSES if any(s.startswith(p) for s in scopes)), None)


@cache
def textmate_tokens(texts: tuple[str, ...]) -> list[list[list[tuple[int, int, list[str]]]]]:
    """Every text through tokenize.js in one node process."""
    result = subprocess.run(
        ["node", str(VSCODE / "test" / "tokenize.js")],
        input=json.dumps(list(texts)),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    tokens: list[list[list[tuple[int, int, list[str]]]]] = json.loads(result.stdout)
    return tokens


def textmate_classes(text: str, lines: list[list[tuple[int, int, list[str]]]]) -> list[Classes]:
    out = []
    for line, tokens in zip(text.split("\n"), lines, strict=True):
        # the engine counts UTF-16 code units: map them to characters
        unit_to_char = [i for i, ch in enumerate(line) for _ in range(2 if ord(ch) > 0xFFFF else 1)]
        unit_to_char.append(len(line))
        chars: Classes = [None] * len(line)
        for start, end, scopes in tokens:
            a, b = unit_to_char[start], unit_to_char[end]
            chars[a:b] = [scope_class(scopes)] * (b - a)
        out.append(chars)
    return out


def disagreements(name: str, text: str, tm: list[Classes]) -> list[str]:
    found = []
    for number, (line, ours, theirs) in enumerate(
        zip(text.split("\n"), tm, pygments_classes(text), strict=True), 1
    ):
        for col, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            if a != b and not line[col].isspace():
                found.append(
                    f"{name}:{number}:{col + 1}: {line[col]!r} grammar {a}, Pygments {b}: {line}"
                )
                break  # the first one of a line says enough
    return found


@cache
def texts() -> dict[str, str]:
    """Every file, and the snippets above, by name: the grammar tokenizes them in one node run."""
    files = {str(f.relative_to(ROOT)): f.read_text(encoding="utf-8") for f in FILES}
    return files | {"EXTRA": EXTRA, "ACROSS_LINES": ACROSS_LINES, "IGNORE": IGNORE}


def tokens_of(name: str) -> list[list[tuple[int, int, list[str]]]]:
    return textmate_tokens(tuple(texts().values()))[list(texts()).index(name)]


@cache
def corpus() -> dict[str, tuple[str, list[Classes]]]:
    """name -> (text, the grammar's classes per line)."""
    return {n: (t, textmate_classes(t, tokens_of(n))) for n, t in texts().items()}


def test_the_grammar_colours_like_the_pygments_lexer_on_every_rules_file(engine: None) -> None:
    found = [d for name, (text, tm) in corpus().items() for d in disagreements(name, text, tm)]
    assert found == ACROSS_LINES_DIFFERENCES


def test_every_token_class_appears_in_the_project_files(engine: None) -> None:
    files = {str(f.relative_to(ROOT)) for f in FILES}
    in_files = {c for n, (_, tm) in corpus().items() if n in files for ln in tm for c in ln}
    assert in_files - {None} == CLASSES - ABSENT_FROM_FILES
    in_extra = {c for line in corpus()["EXTRA"][1] for c in line}
    assert in_extra >= ABSENT_FROM_FILES


def test_the_grammar_marks_ignore_codes_inside_a_comment(engine: None) -> None:
    [line] = tokens_of("IGNORE")
    codes = [
        IGNORE[a:b] for a, b, scopes in line if "constant.other.diagnostic-code.rules" in scopes
    ]
    assert codes == ["GR101", "GR2"]
    assert all(any(s.startswith("comment.") for s in scopes) for a, _, scopes in line if a >= 8)


def _alternatives(pattern: str) -> set[str]:
    """The words of a grammar pattern's `(?:a|b|c)` (or `(a|b)` after `with`)."""
    match = re.search(r"\((?:\?:)?([a-z_|]+)\)(?:\\b|\(\?=)", pattern)
    assert match, pattern
    return set(match.group(1).split("|"))


def test_the_grammar_knows_every_word_the_lexer_knows() -> None:
    """A keyword, action, operator, detector added to the lexer's lists must reach the grammar."""
    repo = json.loads(GRAMMAR.read_text(encoding="utf-8"))["repository"]
    keyword = {p["name"]: _alternatives(p["match"]) for p in repo["keyword"]["patterns"]}
    assert keyword["keyword.other.rules"] == set(highlight.KEYWORDS)
    assert keyword["keyword.control.action.rules"] == set(highlight.ACTIONS)
    assert keyword["keyword.operator.word.rules"] == set(highlight.OPERATORS)
    assert keyword["constant.language.rules"] == set(highlight.CONSTANTS)
    assert _alternatives(repo["quantifier"]["match"]) == set(highlight.QUANTIFIERS)
    assert _alternatives(repo["detector"]["match"]) == set(DETECTORS)
    assert _alternatives(repo["redaction"]["match"]) == set(REDACTION_OPERATORS)


def test_the_lexer_keeps_a_regex_with_backslashes_whole() -> None:
    """The comparison above found this: `/\\d+/` came out as operators and names."""
    tokens = list(RulesLexer().get_tokens('x matches /\\d+\\./i and y == "a\\"b"'))
    assert (String.Regex, "/\\d+\\./i") in tokens
    assert (String.Double, '"a\\"b"') in tokens


def test_npm_run_package_builds_an_installable_vsix(tmp_path: Path) -> None:
    _require("npm is not installed" if shutil.which("npm") is None else _engine_reason())
    vsix = tmp_path / "guardrails-rules.vsix"
    result = subprocess.run(
        ["npm", "run", "package", "--", "--out", str(vsix)],
        cwd=VSCODE,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with zipfile.ZipFile(vsix) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("extension/package.json"))
        bundle = archive.read("extension/out/extension.js").decode()
    assert {
        "extension.vsixmanifest",
        "extension/out/extension.js",
        "extension/syntaxes/rules.tmLanguage.json",
        "extension/language-configuration.json",
        "extension/readme.md",
    } <= names
    # the client is bundled: no node_modules, no sources or tests shipped
    assert not any(
        n.startswith(("extension/node_modules/", "extension/src/", "extension/test/"))
        for n in names
    )
    assert "vscode-languageclient" in bundle or "LanguageClient" in bundle
    assert "pip install 'guardrails-rules[lsp]'" in bundle
    config = manifest["contributes"]["configuration"]["properties"]
    assert config["guardrails.command"]["default"] == "guardrails"
    assert config["guardrails.args"]["default"] == ["lsp"]
    assert (
        manifest["contributes"]["configurationDefaults"]["[rules]"]["editor.formatOnSave"] is True
    )
    assert manifest["contributes"]["languages"][0]["extensions"] == [".rules"]
