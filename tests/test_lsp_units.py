"""The language server's pure parts: positions in UTF-16, the fix a hint proposes,
the ignore-comment edit, which directory a document's ruleset is, and what
`guardrails lsp` says without its extra. The server itself: tests/test_lsp_server.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls.lsp.server", reason="the lsp extra is not installed")
from lsprotocol import types

from guardrails.policy.frontend import check_text
from guardrails.source import SourceFile
from guardrails.tooling.lsp.convert import fix_text, lsp_range, position, to_lsp, units
from guardrails.tooling.lsp.server import _ignore_edit
from guardrails.tooling.lsp.workspace import RulesWorkspace

ROOT = Path(__file__).resolve().parents[1]
UTF8, UTF32 = types.PositionEncodingKind.Utf8, types.PositionEncodingKind.Utf32


def test_columns_count_code_units_of_the_negotiated_encoding():
    file = SourceFile("x.rules", 'a\r\n"é🔒" x\n')
    at = file.text.index("x")  # after `"`, é (1 UTF-16 unit), 🔒 (2 units), `"` and a space
    assert position(file, at) == types.Position(1, 6)
    assert position(file, at, UTF32) == types.Position(1, 5)
    assert position(file, at, UTF8) == types.Position(1, 9)
    assert units("🔒") == 2 and units("é") == 1
    assert position(file, len(file.text)) == types.Position(2, 0)


def test_a_diagnostic_keeps_its_code_hint_and_fix():
    [d] = check_text('on tool_pre_invoke when tool.arg["x"] == "🔒" block\n', "x.rules")
    lsp = to_lsp(d)
    assert (
        lsp.range == lsp_range(d.span) == types.Range(types.Position(0, 24), types.Position(0, 37))
    )
    assert lsp.code == "GR0201" and lsp.message.endswith("\nhint: did you mean 'tool.args'?")
    assert lsp.data == {
        "hint": "did you mean 'tool.args'?",
        "fix": 'tool.args["x"]',
    }  # not "ignore": an error


@pytest.mark.parametrize(
    ("hint", "flagged", "fix"),
    [
        ("did you mean 'tool.name'?", "tool.nme", "tool.name"),
        ("did you mean 'tool.args'?", 'tool.arg["x"]', 'tool.args["x"]'),
        ("did you mean `block`?", "deny", "block"),
        ("did you mean `true`? (constants are lower case)", "True", "true"),
        (
            "a rule starts with `on HOOK` or `rule NAME on HOOK`: did you mean `on gen`?",
            "gen",
            "on gen",
        ),
        ("remove it, or use it in a rule", "x", None),
        (None, "x", None),
    ],
)
def test_the_fix_a_hint_proposes(hint, flagged, fix):
    assert fix_text(hint, flagged) == fix


def test_ignore_ends_the_line_or_joins_the_comment_already_there():
    plain = _ignore_edit(3, 'let x = "🔒"', "GR0300", types.PositionEncodingKind.Utf16)
    assert plain.range.start == plain.range.end == types.Position(3, 12)
    assert plain.new_text == "  # guardrails: ignore[GR0300]"
    line = "on tool_pre_invoke block  # guardrails: ignore[GR0302]"
    joined = _ignore_edit(0, line, "GR0301", types.PositionEncodingKind.Utf16)
    assert (
        joined.range.start == types.Position(0, line.index("]")) and joined.new_text == ", GR0301"
    )


def test_a_documents_ruleset_is_its_highest_directory_of_rules(tmp_path):
    (tmp_path / "rules" / "team").mkdir(parents=True)
    (tmp_path / "rules" / "a.rules").write_text('let shared = ["x"]\n')
    (tmp_path / "rules" / "team" / "b.rules").write_text(
        "on tool_pre_invoke when tool.name in shared block\n"
    )
    (tmp_path / "top.rules").write_text("")  # in the folder's root, which is no ruleset's parent
    ws = RulesWorkspace([tmp_path / "rules"])
    doc = (tmp_path / "rules" / "team" / "b.rules").as_uri()
    assert ws.ruleset_root(doc) == (tmp_path / "rules").resolve()
    assert [Path(k).name for k in ws.ruleset_texts(doc)] == ["a.rules", "b.rules"]
    assert all(v == [] for v in ws.check(doc).values())  # the let of a.rules is known in b
    ws.open(doc, "on tool_pre_invoke when tool.name in sharde block\n")
    assert [d.code for d in ws.check(doc)[doc]] == ["GR0202"]  # the buffer wins over disk
    assert ws.ruleset_root("untitled:Untitled-1") is None


def test_lsp_without_the_extra_names_the_install_command():
    blocked = "import sys; sys.modules['pygls'] = None; from guardrails.tooling.cli import main; main(['lsp'])"
    done = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1
    assert "guardrails lsp needs the 'lsp' extra" in done.stderr
    assert "pip install 'guardrails-rules[lsp]'" in done.stderr


def test_a_lint_naming_another_rule_links_to_it(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    first = 'rule wide on tool_pre_invoke when tool.name == "x" block\n'
    (rules / "a.rules").write_text(first, encoding="utf-8")
    later = rules / "b.rules"
    later.write_text(
        '\nrule narrow on tool_pre_invoke when tool.name == "x" and tool.args.q contains "y" warn\n'
    )
    ws = RulesWorkspace([tmp_path])
    [shadowed] = ws.check(later.as_uri())[later.as_uri()]
    lsp = to_lsp(shadowed, uri_of=ws.uri_of_display)
    assert (lsp.code, lsp.range) == (
        "GR0302",
        types.Range(types.Position(1, 0), types.Position(1, 4)),
    )
    [other] = lsp.related_information or []
    assert other.message == "rule wide"
    assert other.location == types.Location(
        (rules / "a.rules").as_uri(), types.Range(types.Position(0, 0), types.Position(0, 4))
    )
    assert to_lsp(shadowed).related_information is None  # no way to name the file: left out


def test_a_late_cancel_leaves_the_output_channel_quiet(tmp_path: Path):
    """VS Code cancels a completion the user typed past, usually after it was
    answered; pygls's warning about each one used to fill the output channel."""

    def frame(message: dict) -> bytes:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        return f"Content-Length: {len(body)}\r\n\r\n".encode() + body

    messages = [
        {"id": 1, "method": "initialize", "params": {"capabilities": {}, "rootUri": None}},
        {"method": "initialized", "params": {}},
        {"method": "$/cancelRequest", "params": {"id": 1}},  # answered already
        {"method": "$/cancelRequest", "params": {"id": 77}},  # never sent
        {"id": 2, "method": "shutdown"},
        {"method": "exit"},
    ]
    done = subprocess.run(
        [sys.executable, "-m", "guardrails", "lsp"],
        input=b"".join(frame(m) for m in messages),
        capture_output=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b'"id": 2' in done.stdout or b'"id":2' in done.stdout  # shutdown was answered
    assert done.stderr.decode() == ""


def _classes(pairs) -> list[tuple[str, int, int]]:
    """(class, start, end) of comments, strings, regexes and numbers, adjacent pieces
    of one class joined (Pygments splits a string at its escapes and `{...}`)."""
    out: list[tuple[str, int, int]] = []
    for kind, start, end in pairs:
        if kind is None:
            continue
        if out and out[-1][0] == kind and out[-1][2] == start:
            out[-1] = (kind, out[-1][1], end)
        else:
            out.append((kind, start, end))
    return out


def _pygments(text: str) -> list[tuple[str, int, int]]:
    from pygments.token import Comment, Number, String

    from guardrails.tooling.highlight import RulesLexer

    def kind(token) -> str | None:
        for base, name in ((Comment, "comment"), (String.Regex, "regex"), (String, "string")):
            if token in base:
                return name
        return "number" if token in Number else None

    return _classes(
        (kind(t), pos, pos + len(v)) for pos, t, v in RulesLexer().get_tokens_unprocessed(text)
    )


def _lexed(text: str) -> list[tuple[str, int, int]]:
    from guardrails.tooling.lsp.lexed import lex

    kinds = ("comment", "string", "regex", "number")
    return _classes((t.kind if t.kind in kinds else None, t.start, t.end) for t in lex(text))


@pytest.mark.parametrize(
    "text",
    [
        *(p.read_text(encoding="utf-8") for p in sorted((ROOT / "rules").glob("*.rules"))),
        *(p.read_text(encoding="utf-8") for p in sorted(ROOT.glob("examples/**/*.rules"))),
        'when prompt matches /a\\/b[/]c/i block "r {tool.name} {{x}}" # note "q"\n',
        "when tokens > 4000 and rate < 1.5e3 and x == 10s and y < 5m block\n",
        "# guardrails: ignore[GR0301]\nrule r on h when x in [\"a\", 'b\\'c'] block\n",
        'when x == "\\u00e9\\n" block "\uff53\uff48\uff45\uff4c\uff4c" code X_1\n',
        'redact prompt /\\d{3}-\\d{2}/ with "*"\n',
    ],
)
def test_the_editor_features_split_a_text_as_the_highlighter_does(text: str):
    """Completion and hover decide from lexed.py's tokens whether the cursor is in a
    string, a regex or a comment; the author sees Pygments' (and the TextMate
    grammar's, tested against Pygments). On complete texts they must agree; only a
    string left open differs, on purpose (lexed.py runs it to the end of its line)."""
    assert _lexed(text) == _pygments(text)
