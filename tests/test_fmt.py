"""`guardrails fmt`: same rules after formatting, a fixed point, comments kept."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrails.source import SourceFile, Span
from guardrails.syntax.parser import parse
from guardrails.tooling.fmt import format_text

from .test_fuzz import WORDS, mutated_rules

ROOT = Path(__file__).resolve().parents[1]
RULE_FILES = sorted((ROOT / "rules").glob("*.rules"))


def shape(node: Any) -> Any:
    """The AST without positions, for comparing before and after formatting."""
    if isinstance(node, Span):
        return None
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return (
            type(node).__name__,
            *(shape(getattr(node, f.name)) for f in dataclasses.fields(node) if f.name != "span"),
        )
    if isinstance(node, tuple | list):
        return tuple(shape(x) for x in node)
    return node


def items(text: str) -> Any:
    module, diags = parse(SourceFile("f.rules", text))
    assert not diags
    return shape(module.items)


def assert_formats_well(text: str) -> str:
    formatted, diags = format_text(text)
    assert formatted is not None, diags
    assert items(formatted) == items(text)
    again, _ = format_text(formatted)
    assert again == formatted
    return formatted


def test_project_rules_are_formatted_and_stable():
    for path in RULE_FILES:
        text = path.read_text()
        assert assert_formats_well(text) == text, f"{path} is not formatted"


def test_layout_and_comments():
    text = (
        "# header\n\n# about a\nlet a=[1,2]   # inline\n"
        "rule   r 'desc' on h1,h2 when x>1 and not (y or z) mode audit priority 5\n"
        '  block "no" code C   # why\n'
        "on h when ((a+b)*c) > -d block\n"
        "# trailing\n"
    )
    out = assert_formats_well(text)
    assert out == (
        "# header\n\n# about a\nlet a = [1, 2]  # inline\n\n"
        'rule r "desc"\n  on h1, h2\n  mode audit priority 5\n  when x > 1 and not (y or z)\n'
        '  block "no" code C  # why\n\n'
        "on h when (a + b) * c > -d block\n\n# trailing\n"
    )


def test_strings_regexes_and_precedence_round_trip():
    text = (
        "let s = 'it\\'s \\\"q\\\" \\t \\u00e9 \\x00'\n"
        "let r = /a\\/b\\\\\\/c/ims\n"
        "on h when a - (b - c) == a - b - c or not a and b block\n"
        'on h when m["odd key"][0].x in [1, 2.5, null, true] block\n'
        'rule w on h set a.b[\'c d\'][0] = lower("X") redact t /\\d+/ with "#"\n'
    )
    assert_formats_well(text)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(st.one_of(mutated_rules(), st.lists(st.sampled_from(WORDS), max_size=30).map(" ".join)))
def test_fmt_is_faithful_on_fuzzed_input(text):
    _, diags = parse(SourceFile("f.rules", text))
    if diags:
        assert format_text(text)[0] is None  # no formatting of text that does not parse
        return
    assert_formats_well(text)


def test_fmt_cli(tmp_path):
    messy = tmp_path / "m.rules"
    messy.write_text("on generation_pre_call   when tokens>1 block\n")

    def run(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "guardrails", "fmt", *a], capture_output=True, text=True
        )

    check = run("--check", str(tmp_path))
    assert check.returncode == 1 and "+on generation_pre_call when tokens > 1 block" in check.stdout
    assert messy.read_text() == "on generation_pre_call   when tokens>1 block\n"
    assert run(str(messy)).returncode == 0
    assert messy.read_text() == "on generation_pre_call when tokens > 1 block\n"
    assert run("--check", str(messy)).returncode == 0
    broken = tmp_path / "b.rules"
    broken.write_text("on h when block\n")
    bad = run("--check", str(broken))
    assert bad.returncode == 1 and "error[GR0106]" in bad.stderr


def test_threads_formatting_at_once_each_keep_their_own_comments():
    """Comments are collected per call: two threads formatting different files at the
    same time each get exactly their own comments back."""
    import threading

    def source(tag: str, rules: int) -> str:
        return "".join(
            f"# {tag} before {i}\nrule {tag}_{i} on generation_pre_call  # {tag} on {i}\n"
            f"  when tokens > {i}  # {tag} when {i}\n  block\n\n"
            for i in range(rules)
        )

    sources = {"alpha": source("alpha", 150), "beta": source("beta", 90)}
    expected = {tag: format_text(text)[0] for tag, text in sources.items()}
    assert all(expected.values())
    start = threading.Barrier(len(sources))
    wrong: list[str] = []

    def run(tag: str) -> None:
        start.wait()
        for _ in range(8):
            if format_text(sources[tag])[0] != expected[tag]:
                wrong.append(tag)

    threads = [threading.Thread(target=run, args=(tag,)) for tag in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong


def test_a_hash_inside_a_string_or_regex_is_not_a_comment():
    from guardrails.syntax.tokens import comments

    text = 'rule r on tool_pre_invoke  # one\n  when tool.name == "#x" and prompt matches /a#b/\n  block "#"\n# two\n'
    assert [(c.line, c.text) for c in comments(text)] == [(1, "# one"), (4, "# two")]


def test_a_repeated_on_clause_is_kept():
    """Two `on` clauses are a checker error, not a syntax error: fmt keeps both (it once
    dropped the second, changing what the file says)."""
    formatted = assert_formats_well(
        "rule r on tool_pre_invoke when tool.name == 'a'\n  on before_tool\n  block\n"
    )
    assert formatted.count("on ") == 2


def _comments_each_on_a_line_of_their_own(text: str, formatted: str) -> None:
    from guardrails.syntax.tokens import comments

    before = [c.text for c in comments(text)]
    after = [c.text for c in comments(formatted)]
    assert sorted(after) == sorted(before)  # every comment kept, none merged into another
    assert all(line.count("#") <= 1 for line in formatted.splitlines())


def test_two_comments_are_never_merged_onto_one_line():
    text = (
        'rule a "d"\n'
        "  on generation_pre_call  # the hook\n"
        "  # why this matters\n"
        "  when tokens > 3\n"
        "  # second line\n"
        "  # third line\n"
        "  mode audit  # audit first\n"
        "  priority 5  # then five\n"
        '  block "x"\n'
        "\n"
        'on tool_pre_invoke when tool.name == "x" # one\n'
        "  # own line\n"
        "  block\n"
        "\n"
        'let xs = [\n  "a",  # first\n  # about b\n  "b",\n]\n'
        "let y = 1\n"
    )
    out = assert_formats_well(text)
    _comments_each_on_a_line_of_their_own(text, out)
    assert out == (
        'rule a "d"\n'
        "  on generation_pre_call  # the hook\n"
        "  # second line\n"
        "  # third line\n"
        "  # audit first\n"
        "  mode audit priority 5  # then five\n"
        "  # why this matters\n"
        "  when tokens > 3\n"
        '  block "x"\n'
        "\n"
        "on tool_pre_invoke\n"
        '  when tool.name == "x"  # one\n'
        "  # own line\n"
        "  block\n"
        "\n"
        'let xs = ["a", "b"]  # first\n'
        "\n"
        "# about b\n"
        "\n"
        "let y = 1\n"
    )


_PARTS = [
    "rule r",
    "on tool_pre_invoke",
    "mode audit",
    "priority 3",
    'when tool.name == "a"',
    "and tool.name != (",
    '"b"',
    ")",
    'unless tool.name == "c"',
    "warn",
    'block "x"',
]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(["", "trailing", "own", "both"]), min_size=11, max_size=11))
def test_every_comment_survives_on_a_line_of_its_own(places):
    lines: list[str] = []
    for i, (part, place) in enumerate(zip(_PARTS, places, strict=True)):
        if place in ("own", "both") and i:
            lines.append(f"  # own {i}")
        lines.append(
            ("  " if i else "") + part + (f"  # end {i}" if place in ("trailing", "both") else "")
        )
    text = "\n".join(lines) + "\nlet z = [1,  # one\n  # two\n  2]\n"
    _comments_each_on_a_line_of_their_own(text, assert_formats_well(text))


def test_comments_inside_a_long_list_stay_indented_with_its_items():
    items = ["a" * 30, "b" * 30, "c" * 30]
    text = (
        f'let xs = [\n  "{items[0]}",  # one\n  # about b\n  "{items[1]}",\n'
        f'  "{items[2]}",\n  # the end\n]\n'
    )
    out = assert_formats_well(text)
    _comments_each_on_a_line_of_their_own(text, out)
    assert out == (
        f'let xs = [\n  "{items[0]}",  # one\n  # about b\n  "{items[1]}",\n'
        f'  "{items[2]}",\n  # the end\n]\n'
    )
