"""Parsing item by item, each shape of item once (syntax/memo.py), gives exactly the
AST and diagnostics of parsing the whole file with Lark."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrails.source import SourceFile
from guardrails.syntax import memo
from guardrails.syntax.parser import parse

ROOT = Path(__file__).resolve().parents[1]


def _both(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    file = SourceFile("p.rules", text)
    itemwise = parse(file)
    with monkeypatch.context() as m:
        m.setattr(memo.ItemParser, "pieces", _none)  # the whole file, by Lark
        whole = parse(file)
    return _dump(itemwise), _dump(whole)


def _none(self: memo.ItemParser) -> list[object]:
    self.failed_at = 0
    return []


def _dump(parsed: tuple[object, list[object]]) -> tuple[object, ...]:
    module, diags = parsed
    return (
        module.items,  # type: ignore[attr-defined]
        [(d.code, d.message, d.span.start, d.span.end) for d in diags],  # type: ignore[attr-defined]
    )


def test_every_rules_file_of_the_project_parses_alike(monkeypatch):
    files = sorted(ROOT.glob("rules/**/*.rules")) + sorted(ROOT.glob("examples/**/*.rules"))
    assert len(files) > 10
    for path in files:
        itemwise, whole = _both(path.read_text(), monkeypatch)
        assert itemwise == whole, path


def test_items_of_one_shape_get_their_own_tokens_and_positions(monkeypatch):
    text = "".join(
        f'rule r{i} on tool_pre_invoke priority {i} when tool.name == "t{i}" and '
        f'tool.args.q contains "w\\"{i}" block "no {i}" code C{i}\n'
        for i in range(30)
    )
    itemwise, whole = _both(text, monkeypatch)
    assert itemwise == whole
    rules = itemwise[0]  # type: ignore[index]
    assert [r.name.name for r in rules] == [f"r{i}" for i in range(30)]
    assert rules[29].span.start == text.index("rule r29")


# items whose tokens look alike to the shape key but are not (a keyword as a field
# name, a regex beside a division, a named rule whose `on` starts a line, comments)
_PIECES = [
    'rule r{n} on tool_pre_invoke when tool.name == "t{n}" block\n',
    "rule r{n} on tool_pre_invoke when tool.args.block == {n} block\n",
    "rule r{n} on tool_pre_invoke when tool.args.n / {n} > 2 block\n",
    "rule r{n} on generation_post_call when output matches /a{n}b/i block\n",
    "rule r{n}\non tool_pre_invoke when tool.name == 'x' block\n",
    'let l{n} = ["a", "b{n}"]\n',
    "on generation_pre_call when tokens > {n} warn  # note {n}\n",
    'rule r{n} "described" on tool_pre_invoke mode transform when tool.args.q contains "s"\n'
    '    set tool.args.q = "t"\n',
    "# a comment line {n}\n",
    'rule r{n} on tool_pre_invoke when tool.name == "a" and ( block\n',
    "rule r{n} on tool_pre_invoke when on block\n",
    "counter c{n} per user every 1m\n",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(0, len(_PIECES) - 1), st.integers(0, 99)), max_size=12),
    st.data(),
)
def test_random_files_parse_alike(pieces, data):
    text = "".join(_PIECES[k].format(n=n) for k, n in pieces)
    if text and data.draw(st.booleans()):  # and a damaged one
        at = data.draw(st.integers(0, len(text) - 1))
        text = (
            text[:at]
            + data.draw(st.sampled_from(["", "(", '"', "\n", "on ", "/"]))
            + text[at + 1 :]
        )
    with pytest.MonkeyPatch.context() as monkeypatch:
        itemwise, whole = _both(text, monkeypatch)
    assert itemwise == whole, text


def test_a_syntax_error_salvages_what_the_whole_file_parse_salvages(monkeypatch):
    """Found by the random test: item by item, the first rule parses; Lark's recovery
    over the whole file does not keep it. The diagnostics follow from what is kept, so
    on an error the whole file is parsed as before."""
    text = (
        'rule r0 on tool_pre_invoke when tool.name == "t0" block\n'
        "rule r0\n"
        "on(tool_pre_invoke when tool.name == 'x' block\n"
    )
    itemwise, whole = _both(text, monkeypatch)
    assert itemwise == whole
