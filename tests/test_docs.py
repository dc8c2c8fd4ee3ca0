"""Generated documentation stays in sync, and the .rules lexer is registered."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_hooks_doc_is_generated_from_the_catalog():
    generated = subprocess.run([sys.executable, "-m", "guardrails", "hooks", "--format", "markdown"],
                               capture_output=True, text=True, check=True).stdout  # fmt: skip
    committed = (ROOT / "docs" / "hooks.md").read_text()
    assert committed == generated, (
        "docs/hooks.md is stale: guardrails hooks --format markdown > docs/hooks.md"
    )
    assert (
        "## tool_pre_invoke" in committed
        and "| `tool.args` | map | normalized | yes |" in committed
    )


def test_pygments_finds_the_rules_lexer_and_tokens_make_sense():
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
    from pygments.token import Comment, Keyword, Name, Operator, String

    lexer = get_lexer_for_filename("tools.rules")
    assert type(lexer) is type(get_lexer_by_name("rules"))
    text = 'rule r on h when tool.name in ["x"] and prompt matches /a+/i block "no" # done\n'
    tokens = [(t, v) for t, v in lexer.get_tokens(text) if v.strip()]
    assert (Keyword.Declaration, "rule") in tokens and (Name.Function, "r") in tokens
    assert (Operator.Word, "in") in tokens and (String.Regex, "/a+/i") in tokens
    assert (Keyword.Reserved, "block") in tokens and (Comment.Single, "# done") in tokens
    assert "".join(v for _, v in lexer.get_tokens(text)) == text


def test_coloured_diagnostics_highlight_the_source_line():
    from guardrails.source import SourceFile
    from guardrails.syntax.parser import parse

    _, diags = parse(SourceFile("t.rules", "on h when x = 1 block\n"))
    plain, colored = diags[0].render(), diags[0].render(color=True)
    assert "\x1b[" not in plain and "\x1b[" in colored.splitlines()[1]


def _yaml_blocks(path: Path) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", path.read_text(), flags=re.S)


def test_every_cpex_config_in_the_docs_is_one_cpex_reads_and_check_config_passes(tmp_path):
    """The configs readers copy: each parses as cpex reads it, and each one with our
    YAML kind passes `guardrails check-config` over the starter rules, as written."""
    from cpex.framework.loader.config import ConfigLoader

    blocks = [b for doc in ("hosts.md",) for b in _yaml_blocks(ROOT / "docs" / doc)]
    assert any("guardrails.cpex.RulesPlugin" in b for b in blocks)
    for i, block in enumerate(blocks):
        config = tmp_path / f"config{i}.yaml"
        config.write_text(block)
        assert ConfigLoader.load_config(str(config)).plugins, block
        if "guardrails.cpex.RulesPlugin" in block:
            proc = subprocess.run(
                [sys.executable, "-m", "guardrails", "check-config", str(config)],
                cwd=ROOT, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stdout + proc.stderr


def test_user_docs_cite_no_internal_design_document():
    """Users have README.md and docs/ only; a "DESIGN section 5" they cannot open
    (docs/hooks.md cited one, from the generator) is a dead end."""
    from guardrails.check.catalog import DEFAULT_CATALOG
    from guardrails.tooling.hooklist import hooks_markdown

    pages = {p.name: p.read_text() for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]}
    pages["guardrails hooks --format markdown"] = hooks_markdown(list(DEFAULT_CATALOG))
    cited = [name for name, text in pages.items() if re.search(r"\bDESIGN\b", text)]
    assert cited == []


def test_the_docs_shadow_examples_work_on_the_project_rules():
    """README's `shadow=["pii_*"]` raised on rules/ (no rule matched it) and later
    matched only a rule that is audit anyway: each example must load rules/ and turn
    some enforcing rule's block into a would-block."""
    import ast

    import guardrails

    examples = [
        (page, ast.literal_eval(m))
        for page in ("README.md", "docs/hosts.md")
        for m in re.findall(r"shadow=(\[[^\]]*\])", (ROOT / page).read_text())
    ]
    assert examples
    for page, patterns in examples:
        policy = guardrails.load(ROOT / "rules", shadow=patterns)
        enforcing = {r.id for r in policy.rules if r.mode != "audit"}
        for pattern in patterns:
            hits = {i for i in policy.shadowed if fnmatch.fnmatch(i, pattern)}
            assert hits & enforcing, f"{page}: shadow pattern {pattern!r} shadows no enforcing rule"
