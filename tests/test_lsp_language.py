"""The editor features over stdio: a real server process driven by pygls's client.

The server is `guardrails lsp`. One server serves the module:
it is given a copy of the project's rules/ plus a half-typed buffer opened but never
saved, and every answer is checked with its exact range.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pygls")
from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

ROOT = Path(__file__).resolve().parent.parent
HALF_TYPED = (
    "rule draft on tool_pre_invoke, before_tool\n"
    "  when normalize(tool.name) in shell_tools and tool.\n"
    "  block\n"
    "rule broken on when (((\n"
    "on gen\n"
)

REASON = 'rule says on tool_pre_invoke when tool.name == "x"\n  block "no {tool.na} here" code X\n'


def _command() -> list[str]:
    return [sys.executable, "-m", "guardrails", "lsp"]


def _pos(line: int, character: int) -> lsp.Position:
    return lsp.Position(line, character)


def _rng(a: tuple[int, int], b: tuple[int, int]) -> lsp.Range:
    return lsp.Range(_pos(*a), _pos(*b))


async def _session(rules: Path) -> dict[str, Any]:
    client = LanguageClient("guardrails-test", "0")
    cmd = _command()
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    await client.start_io(cmd[0], *cmd[1:], env=env)
    draft = from_fs_path(str(rules / "draft.rules"))
    tools = from_fs_path(str(rules / "tools.rules"))
    doc = lsp.TextDocumentIdentifier
    out: dict[str, Any] = {}
    try:
        init = await client.initialize_async(
            lsp.InitializeParams(
                capabilities=lsp.ClientCapabilities(), root_uri=from_fs_path(str(rules))
            )
        )
        out["capabilities"] = init.capabilities
        client.initialized(lsp.InitializedParams())
        client.text_document_did_open(
            lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(draft, "rules", 1, HALF_TYPED))
        )
        out["member"] = await client.text_document_completion_async(
            lsp.CompletionParams(doc(draft), _pos(1, 52))
        )
        out["hooks"] = await client.text_document_completion_async(
            lsp.CompletionParams(doc(draft), _pos(4, 6))
        )
        out["hover_fact"] = await client.text_document_hover_async(
            lsp.HoverParams(doc(draft), _pos(1, 23))
        )
        out["hover_let"] = await client.text_document_hover_async(
            lsp.HoverParams(doc(draft), _pos(1, 35))
        )
        out["definition"] = await client.text_document_definition_async(
            lsp.DefinitionParams(doc(draft), _pos(1, 35))
        )
        out["references"] = await client.text_document_references_async(
            lsp.ReferenceParams(
                context=lsp.ReferenceContext(include_declaration=False),
                text_document=doc(draft),
                position=_pos(1, 35),
            )
        )
        reason = from_fs_path(str(rules / "reason.rules"))
        client.text_document_did_open(
            lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(reason, "rules", 1, REASON))
        )
        out["reason"] = await client.text_document_completion_async(
            lsp.CompletionParams(doc(reason), _pos(1, 20))
        )
        out["tools_uri"], out["draft_uri"] = tools, draft
        await client.shutdown_async(None)
    finally:
        client.exit(None)  # the server ends on `exit` even when a request above failed
        await client.stop()
    return out


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    rules = tmp_path_factory.mktemp("lsp") / "rules"
    shutil.copytree(ROOT / "rules", rules)
    return asyncio.run(asyncio.wait_for(_session(rules), 60))


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines()) if text in line)


def test_completion_triggers_on_dot_space_and_a_reasons_brace(answers):
    options = answers["capabilities"].completion_provider
    assert {".", " ", "{"} <= set(options.trigger_characters)


def test_completion_of_fields_in_an_unsaved_half_typed_buffer(answers):
    items = answers["member"].items
    assert [i.label for i in items] == ["args", "name"]  # what both hooks have
    assert all(i.text_edit.range == _rng((1, 52), (1, 52)) for i in items)
    assert items[1].kind == lsp.CompletionItemKind.Field and items[1].detail.startswith("str")


def test_completion_of_a_fact_inside_a_reasons_braces(answers):
    [name] = answers["reason"].items
    assert (name.label, name.detail) == ("name", "str (normalized, writable)")
    assert name.text_edit == lsp.TextEdit(_rng((1, 18), (1, 20)), "name")


def test_completion_of_hooks_after_a_broken_item(answers):
    items = answers["hooks"].items
    assert "generation_pre_call" in [i.label for i in items]
    assert items[0].text_edit.range == _rng((4, 3), (4, 6))


def test_hover_on_a_fact(answers):
    found = answers["hover_fact"]
    assert found.range == _rng((1, 22), (1, 26))  # the word under the cursor
    assert found.contents.value.startswith("`tool.name`: str")
    assert "- `before_tool`: haystack: given by its adapter; read-only" in found.contents.value


def test_hover_definition_and_references_of_a_let_defined_on_disk(answers, tmp_path_factory):
    tools = answers["tools_uri"]
    path = Path(tools.removeprefix("file://"))
    line = _line_of(path, "let shell_tools")
    assert answers["hover_let"].range == _rng((1, 31), (1, 42))
    assert answers["hover_let"].contents.value.startswith("```\nlet shell_tools = [")
    assert answers["definition"] == [lsp.Location(tools, _rng((line, 4), (line, 15)))]
    uses = answers["references"]
    assert lsp.Location(answers["draft_uri"], _rng((1, 31), (1, 42))) in uses
    assert all(loc.uri in (tools, answers["draft_uri"]) for loc in uses)
    assert len([u for u in uses if u.uri == tools]) == path.read_text().count("in shell_tools")


CALLS_A_FUNCTION = """\
let unused_words = ["a"]
rule vip on tool_pre_invoke when is_vip(user) block "vips go through review" code VIP
"""


async def _diagnostics_with(rules: Path, *args: str) -> tuple[list[str], lsp.CompletionList]:
    """The codes `guardrails lsp ARGS` publishes for rules/vip.rules on opening it, and
    the completion of `is_` in it."""
    client = LanguageClient("guardrails-test", "0")
    published: asyncio.Queue[lsp.PublishDiagnosticsParams] = asyncio.Queue()

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def _published(*args: Any) -> None:  # (params), or (client, params)
        published.put_nowait(args[-1])

    env = {"PYTHONPATH": f"{ROOT}{os.pathsep}{rules.parent}", "PATH": "/usr/bin:/bin"}
    await client.start_io(*_command(), *args, env=env, cwd=str(rules.parent))
    uri = from_fs_path(str(rules / "vip.rules"))
    try:
        await client.initialize_async(
            lsp.InitializeParams(
                capabilities=lsp.ClientCapabilities(), root_uri=from_fs_path(str(rules.parent))
            )
        )
        client.initialized(lsp.InitializedParams())
        client.text_document_did_open(
            lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "rules", 1, CALLS_A_FUNCTION))
        )
        while (found := await published.get()).uri != uri:
            pass
        completed = await client.text_document_completion_async(
            lsp.CompletionParams(lsp.TextDocumentIdentifier(uri), _pos(1, 36))
        )
        await client.shutdown_async(None)
    finally:
        client.exit(None)
        await client.stop()
    assert isinstance(completed, lsp.CompletionList)
    return sorted(str(d.code) for d in found.diagnostics), completed


def test_the_server_declares_the_apps_functions_and_switches_lints_off_as_check_does(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "vip.rules").write_text(CALLS_A_FUNCTION)
    (tmp_path / "vipcheck.py").write_text("def is_vip(user: str) -> bool:\n    return False\n")
    plain, offered = asyncio.run(asyncio.wait_for(_diagnostics_with(rules), 60))
    assert "GR0203" in plain and "GR0300" in plain  # unknown function; unused let
    assert [i.label for i in offered.items] == ["is_control_flow"]  # a fact; no function
    declared, offered = asyncio.run(asyncio.wait_for(
        _diagnostics_with(rules, "--functions", "vipcheck:is_vip", "--disable", "GR0300"), 60
    ))  # fmt: skip
    assert declared == []
    [item] = [i for i in offered.items if i.label != "is_control_flow"]  # with its signature
    assert (item.label, item.detail) == ("is_vip", "is_vip(user: str) -> bool")
    assert item.text_edit == lsp.TextEdit(_rng((1, 33), (1, 36)), "is_vip(")
