"""Every shell command in README.md and docs/*.md runs, as written, in page order.

The convention is in tests/docs_commands.py's docstring. A page's files (a block
under a line naming the file) are written before the commands below them, so
docs/testing.md's walkthrough builds its own project and its failing-then-passing
snapshot is run, not just shown. A failure names the page and line of the command,
its exit status and its output.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from .docs_commands import ROOT, DocsError, Step, blocks, pages, run, sandbox, steps

# Blocks marked <!-- not run: REASON -->, by page and first line: a new one must be
# added here on purpose, so commands cannot quietly stop being tested.
NOT_RUN = [
    ("README.md", "bash scripts/demo.sh"),
    ("README.md", "guardrails serve rules/"),
    ("docs/cli.md", 'eval "$(_GUARDRAILS_COMPLETE=zsh_source guardrails)"'),
    ("docs/console.md", "pip install 'guardrails-rules[ui]'"),
    ("docs/console.md", "guardrails ui rules/ --corpus tests/corpus --decisions decisions.jsonl"),
    ("docs/editors.md", "cd editors/vscode && npm ci && npm run package"),
    ("docs/detectors.md", "pip install 'guardrails-rules[detectors]'"),
    ("docs/hosts.md", "PLUGINS_ENABLED=true"),
    ("docs/hosts.md", "guardrails serve rules/                      # MCP over stdio"),
    ("docs/hosts.md", "guardrails serve rules/ --transport http --token-file token --workers 4"),
    ("docs/performance.md", "pip install -e '.[bench]'"),
    ("docs/rollout.md", "$ guardrails ui examples/rollout/candidate/ --decisions decisions.jsonl"),
    ("docs/security.md", "GUARDRAILS_FUZZ_EXAMPLES=100000"),
    ("docs/state.md", "guardrails serve rules/"),
    ("docs/testing.md", "pip install 'guardrails-rules[test]'"),
    ("docs/testing.md", "tests/corpus/tool_pre_invoke/sixth_email.json"),  # a file block: its path
]
PAGE_TIMEOUT = 600.0


def write_decision_log(where: Path, rules: Path, calls: list[tuple[str, dict]], **opts) -> None:
    """A decision log with call records, written by the real recorder, as an app's
    `load(..., sinks=[JsonlSink(...)], capture=...)` writes it."""
    import guardrails
    from guardrails.records import JsonlSink

    policy = guardrails.load(rules, sinks=[JsonlSink(where / "decisions.jsonl")], **opts)
    for hook, facts in calls:
        policy.evaluate(hook, facts)
    policy.flush()


def readme_setup(cwd: Path) -> None:
    """README's command list reads a decision log: the sample payloads and enough
    clean answers for its `promote` gate (100 samples of ssn_in_output)."""
    calls = [
        (case["hook"], case["facts"])
        for case in (
            json.loads(p.read_text()) for p in sorted(cwd.glob("examples/payloads/*.json"))
        )
    ]
    calls += [("generation_post_call", {"output": f"answer {i}: fine"}) for i in range(120)]
    write_decision_log(cwd, cwd / "rules", calls, capture=True)


SETUP = {"README.md": readme_setup}


def _collect() -> dict[str, list[Step] | str]:
    """Per page with commands: its steps, or why it breaks the convention (so one
    page's mistake does not hide the others' commands)."""
    found: dict[str, list[Step] | str] = {}
    for path in pages():
        page = str(path.relative_to(ROOT))
        try:
            runnable, _ = steps(path)
        except DocsError as err:
            found[page] = str(err)
            continue
        if any(s.kind == "command" for s in runnable):
            found[page] = runnable
    return found


COLLECTED = _collect()


def test_the_walkthrough_and_the_readme_have_commands():
    assert {"README.md", "docs/testing.md"} <= set(COLLECTED)


@pytest.mark.parametrize("page", sorted(COLLECTED))
def test_every_command_of_the_page_runs(page, tmp_path):
    page_steps = COLLECTED[page]
    if isinstance(page_steps, str):
        pytest.fail(page_steps, pytrace=False)
    cwd = sandbox(tmp_path / "repo")
    if page in SETUP:
        SETUP[page](cwd)
    problems = run(page_steps, cwd, tmp_path / "work", PAGE_TIMEOUT)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def test_blocks_not_run_are_the_listed_ones_each_with_a_reason():
    marked: list[tuple[str, str]] = []
    for path in pages():
        for block in blocks(path):
            if block.not_run is None:
                continue
            first = block.label or next(ln for ln in block.lines if ln.strip())
            listed = [k for k in NOT_RUN if k[0] == block.page and first.startswith(k[1])]
            marked.append(max(listed, key=lambda k: len(k[1])) if listed else (block.page, first))
            assert len(block.not_run) > 10, f"{block.where}: say why it cannot run"
    assert Counter(marked) == Counter(NOT_RUN), (
        "the blocks marked <!-- not run: REASON --> changed: list a new one in NOT_RUN "
        "only if it really cannot run"
    )


def test_the_testing_walkthrough_fails_and_then_passes():
    """The page's own steps, not a paraphrase: a pytest run the page expects to fail
    (exit 1), then passing runs after it."""
    walk = COLLECTED["docs/testing.md"]
    assert not isinstance(walk, str), walk
    runs = [
        (s.exit, s.text)
        for s in walk
        if s.kind == "command" and re.search(r"\bpytest\b|guardrails test", s.text)
    ]
    failing = next(i for i, (code, _) in enumerate(runs) if code == 1)
    assert any(code == 0 for code, _ in runs[:failing]) and runs[-1][0] == 0
    assert any(s.kind == "file" and s.path == "rules/tools.rules" for s in walk)


PAGE = """\
# A page

**1.** `rules/a.rules`:

```
rule r on tool_pre_invoke when tool.name == "x" block
```

```
rule not_a_file on tool_pre_invoke block
```

```
guardrails check rules/   # an untagged block that starts with a command runs
```

<!-- exit 1 -->
```console
$ python -c \\
    "raise SystemExit('exit 1, on purpose')"
exit 1, on purpose
```

<!-- not run: a server runs until it is stopped -->
```sh
guardrails serve rules/
```
"""


def test_the_convention_on_a_page(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    runnable, skipped = steps(page)
    assert [(s.kind, s.line, s.path or s.text, s.exit) for s in runnable] == [
        ("file", 5, "rules/a.rules", 0),
        (
            "command",
            14,
            "guardrails check rules/   # an untagged block that starts with a command runs",
            0,
        ),
        ("command", 19, "python -c \\\n    \"raise SystemExit('exit 1, on purpose')\"", 1),
    ]
    assert [(b.line, b.not_run) for b in skipped] == [(25, "a server runs until it is stopped")]
    problems = run(runnable, tmp_path, tmp_path / "work", 120)
    assert problems == []  # rules/a.rules was written before the check that reads it
    runnable[2].exit = 0
    problems = run(runnable, tmp_path, tmp_path / "work2", 120)
    assert len(problems) == 1 and problems[0].startswith("page.md:19: `python -c")
    assert "exited 1, the page expects 0\nexit 1, on purpose" in problems[0]


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("<!-- exits 1 -->\n```sh\nls\n```\n", "page.md:3: unknown directive <!-- exits 1 -->"),
        (
            "```sh\npip install guardrails-rules\n```\n",
            "page.md:3: `pip install guardrails-rules` must not run",
        ),
        ("```\nbash scripts/test.sh\n```\n", "page.md:3: `bash scripts/test.sh` must not run"),
    ],
)
def test_pages_that_break_the_convention_are_told_where(tmp_path, block, message):
    page = tmp_path / "page.md"
    page.write_text("text\n" + block)
    with pytest.raises(DocsError) as err:
        steps(page)
    assert str(err.value).startswith(message)
