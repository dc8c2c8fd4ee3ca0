"""The mode table (runtime/modes.py) is what the checker, the engine and the doc say."""

from __future__ import annotations

from pathlib import Path

import pytest

import guardrails
from guardrails.runtime.modes import MODES, PHASE_ORDER

DOC = Path(__file__).resolve().parents[1] / "docs" / "language.md"


def _doc_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0].strip("`") in MODES:
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    return rows


def test_the_language_doc_has_a_row_per_mode_that_agrees_with_the_table():
    rows = _doc_rows()
    assert list(rows) == sorted(MODES, key=PHASE_ORDER.__getitem__)
    for name, (blocks, changes) in rows.items():
        assert (not blocks.startswith("no")) == MODES[name].can_block, name
        assert changes.startswith("yes") == MODES[name].can_modify, name


@pytest.mark.parametrize("name", list(MODES))
def test_the_checker_refuses_what_the_mode_cannot_do(name):
    block = f"rule b on tool_pre_invoke mode {name} block\n"
    change = f'rule s on tool_pre_invoke mode {name} set tool.name = "x"\n'
    for text, code, allowed in ((block, "GR0231", MODES[name].can_block),
                                (change, "GR0232", MODES[name].can_modify)):  # fmt: skip
        codes = {d.code for d in _diagnostics(text)}
        assert (code not in codes) == allowed, (name, code)


def _diagnostics(text: str) -> list[guardrails.Diagnostic]:
    try:
        guardrails.loads(text)
    except guardrails.RulesError as err:
        return list(err.diagnostics)
    return []
