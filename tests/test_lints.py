"""Lints: each fires on the mistake it names, stays quiet on the near miss, and can be
switched off or silenced."""

from __future__ import annotations

import datetime
import subprocess
import sys

import pytest

import guardrails
from guardrails.check.catalog import DEFAULT_CATALOG
from guardrails.check.lints import lint
from guardrails.loading import _front_end
from guardrails.source import SourceFile


def codes(text: str) -> list[tuple[str, int]]:
    _, diags = _front_end([SourceFile("l.rules", text)], DEFAULT_CATALOG)
    return [(d.code, d.line) for d in diags]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on generation_pre_call when tokens > 10 and tokens < 5 block", [("GR0301", 1)]),
        ("on generation_pre_call when tokens >= 5 and tokens < 5 block", [("GR0301", 1)]),
        ("on generation_pre_call when tokens == 3 and 5 <= tokens block", [("GR0301", 1)]),
        ("on generation_pre_call when tokens > 10 and tokens < 50 block", []),
        ("on generation_pre_call when tokens >= 5 and tokens <= 5 block", []),
        ("on generation_pre_call when tokens > 10 or tokens < 5 block", []),
        (
            "rule a on tool_pre_invoke priority 1 when tool.name == 'x' block\n"
            "rule b on tool_pre_invoke priority 2 when tool.name == 'x' and user == 'y' block",
            [("GR0302", 2)],
        ),
        (
            "rule a on tool_pre_invoke priority 1 when tool.name == 'x' and user == 'y' block\n"
            "rule b on tool_pre_invoke priority 2 when tool.name == 'x' block",
            [],
        ),
        (
            "rule a on tool_pre_invoke priority 1 mode audit when tool.name == 'x' block\n"
            "rule b on tool_pre_invoke priority 2 when tool.name == 'x' block",
            [],
        ),
        (
            "rule a on tool_pre_invoke when tool.name == 'x' block\n"
            "rule b on tool_pre_invoke when tool.name == 'x' warn",
            [("GR0302", 2), ("GR0303", 2)],
        ),
        (
            "rule a on generation_pre_call mode transform set model_options.t = 1\n"
            "rule b on generation_pre_call mode transform priority 5 set model_options.t = 2",
            [("GR0305", 2)],
        ),
        (
            "rule a on generation_pre_call mode transform set model_options.t = 1\n"
            "rule b on generation_pre_call set model_options.t = 2",
            [],
        ),
    ],
)
def test_lints(text, expected):
    assert codes(text) == expected


def test_audit_age_from_since():
    text = (
        'rule shadowy on generation_pre_call mode audit since "2026-01-01" when tokens > 1 block\n'
    )
    from guardrails.check.rules import check_modules
    from guardrails.syntax.parser import parse

    module, _ = parse(SourceFile("l.rules", text))
    ruleset, _ = check_modules([module], DEFAULT_CATALOG)
    late = lint(ruleset, [module], today=datetime.date(2026, 3, 1))
    assert [(d.code, d.line, d.column) for d in late] == [("GR0304", 1, 54)]
    assert "59 days" in late[0].message
    assert lint(ruleset, [module], today=datetime.date(2026, 1, 20)) == []
    enforced = text.replace("mode audit ", "")
    module, _ = parse(SourceFile("l.rules", enforced))
    ruleset, _ = check_modules([module], DEFAULT_CATALOG)
    assert lint(ruleset, [module], today=datetime.date(2027, 1, 1)) == []
    with pytest.raises(guardrails.RulesError, match="GR0236"):
        guardrails.loads('rule r on generation_pre_call mode audit since "last week" block')


def test_suppression_comment_and_disable(tmp_path):
    text = (
        "rule a on tool_pre_invoke when tool.name == 'x' block\n"
        "rule b on tool_pre_invoke when tool.name == 'x' and user == 'y' block  # guardrails: ignore[GR0302]\n"
        "let spare = 1  # guardrails: ignore[GR0300]\n"
        "on generation_pre_call when tokens > 10 and tokens < 5 block\n"
    )
    assert codes(text) == [("GR0301", 4)]
    path = tmp_path / "l.rules"
    path.write_text(text)
    assert [d.code for d in guardrails.check(path, disable={"GR0301"})] == []
    proc = subprocess.run([sys.executable, "-m", "guardrails", "check", str(path), "--disable", "GR0301"],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0 and "no problems" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "guardrails", "check", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "warning[GR0301]" in proc.stdout  # lints are warnings


def test_lints_do_not_run_on_rules_with_errors():
    assert codes("on generation_precall when tokens > 10 and tokens < 5 block") == [("GR0200", 1)]
