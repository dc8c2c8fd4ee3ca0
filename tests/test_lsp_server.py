"""`guardrails lsp` as an editor meets it: the real server in a subprocess, driven over
stdio by pytest-lsp's client, on a copy of `rules/` with a broken and a half-typed
file. Every range is checked to the UTF-16 unit (a 🔒 before a squiggle counts two),
and each quick fix is applied back through didChange: its diagnostic goes away only
if the edit's range and text are exactly right. One server for the module.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls.lsp.server", reason="the lsp extra is not installed")
pytest.importorskip("pytest_lsp", reason="pytest-lsp (the dev extra) is not installed")
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

ROOT = Path(__file__).resolve().parents[1]
HALF_TYPED = "rule draft on tool_pre_invoke when tool.\n"
BROKEN_LINE = 'on tool_pre_invoke when "🔒" in tool.nme block\n'

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("editor") / "rules"
    shutil.copytree(ROOT / "rules", where)
    (where / "draft.rules").write_text(HALF_TYPED, encoding="utf-8")
    return where


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "guardrails", "lsp"],
        server_env={**os.environ, "PYTHONPATH": str(ROOT)},
    ),
)
async def client(lsp_client: LanguageClient, rules_dir: Path):
    folder = rules_dir.parent.as_uri()
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            root_uri=folder,
            workspace_folders=[types.WorkspaceFolder(folder, "editor")],
        )
    )
    yield
    await lsp_client.shutdown_session()
    assert lsp_client._server is not None and lsp_client._server.returncode == 0


def uri(rules_dir: Path, name: str) -> str:
    return (rules_dir / name).as_uri()


def seen(diags: list[types.Diagnostic] | None) -> list[tuple[str, tuple[int, int, int, int]]]:
    return [
        (
            str(d.code),
            (d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character),
        )
        for d in diags or []
    ]


async def published(client: LanguageClient, target: str, expected: list) -> list[types.Diagnostic]:
    """The diagnostics of `target` once they are `expected` (the server publishes
    after its debounce); what was last seen if they never are, for the assertion."""
    for _ in range(400):
        if seen(client.diagnostics.get(target)) == expected:
            break
        await asyncio.sleep(0.05)
    assert seen(client.diagnostics.get(target)) == expected
    return client.diagnostics[target]


def open_doc(client: LanguageClient, target: str, text: str, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(target, "rules", version, text))
    )


def edit(client: LanguageClient, target: str, version: int, *edits: types.TextEdit) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=version, uri=target),
            [types.TextDocumentContentChangePartial(e.range, e.new_text) for e in edits],
        )
    )


async def fixes(
    client: LanguageClient, target: str, diag: types.Diagnostic
) -> list[types.CodeAction]:
    found = await client.text_document_code_action_async(
        types.CodeActionParams(
            types.TextDocumentIdentifier(target), diag.range, types.CodeActionContext([diag])
        )
    )
    return [a for a in found or [] if isinstance(a, types.CodeAction)]


async def test_open_publishes_every_file_of_the_directory_with_exact_ranges(client, rules_dir):
    tools = uri(rules_dir, "tools.rules")
    text = (rules_dir / "tools.rules").read_text(encoding="utf-8")
    line = text.count("\n")
    open_doc(client, tools, text + BROKEN_LINE)
    # `tool.nme` starts at character 31; the 🔒 before it is two UTF-16 units
    [diag] = await published(client, tools, [("GR0201", (line, 32, line, 40))])
    assert diag.severity == types.DiagnosticSeverity.Error and diag.source == "guardrails"
    assert diag.message == (
        "unknown fact 'tool.nme' on hook tool_pre_invoke\nhint: did you mean 'tool.name'?"
    )
    assert diag.data["fix"] == "tool.name"

    draft = uri(rules_dir, "draft.rules")
    open_doc(client, draft, HALF_TYPED)
    [cut] = await published(client, draft, [("GR0101", (0, 40, 0, 40))])
    assert cut.message.startswith("unexpected end of file: expected a name")
    # files nobody opened are checked too, and clean
    assert seen(client.diagnostics[uri(rules_dir, "secrets.rules")]) == []


async def test_an_edit_republishes_across_files_and_its_did_you_mean_fix_applies(client, rules_dir):
    draft = uri(rules_dir, "draft.rules")
    whole = types.Range(types.Position(0, 0), types.Position(1, 0))
    typo = 'rule cap_temperature on tool_pre_invoke when tool.name == "x" blok\n'
    edit(client, draft, 2, types.TextEdit(whole, typo))
    [diag] = await published(client, draft, [("GR0100", (0, 62, 0, 66))])
    assert diag.message.endswith("hint: did you mean 'block'?")
    [action] = await fixes(client, draft, diag)
    assert action.title == "Change to `block`" and action.is_preferred
    [fix] = action.edit.changes[draft]
    assert (fix.range, fix.new_text) == (diag.range, "block")

    edit(client, draft, 3, fix)
    await published(client, draft, [])
    # the draft's id is taken in another file, which is not open: it says so there
    settings = uri(rules_dir, "model_settings.rules")
    [dup] = await published(client, settings, [("GR0205", (11, 5, 11, 20))])
    assert "first defined at rules/draft.rules:1:6" in dup.message
    [first] = dup.related_information or []  # the editor links to it
    where = types.Range(types.Position(0, 5), types.Position(0, 20))
    assert first.location == types.Location(draft, where)
    assert first.message == "rule 'cap_temperature' is first defined here"


async def test_quick_fix_after_an_astral_character_and_ignore_for_a_lint(client, rules_dir):
    tools = uri(rules_dir, "tools.rules")
    [diag] = [d for d in client.diagnostics[tools] if d.code == "GR0201"]
    [action] = await fixes(client, tools, diag)
    edit(client, tools, 2, *action.edit.changes[tools])
    await published(client, tools, [])

    draft = uri(rules_dir, "draft.rules")
    start = types.Position(0, 0)
    edit(client, draft, 4, types.TextEdit(types.Range(start, start), "let unused_thing = 3\n"))
    [lint] = await published(client, draft, [("GR0300", (0, 4, 0, 16))])
    assert lint.severity == types.DiagnosticSeverity.Warning
    [ignore] = await fixes(client, draft, lint)
    assert ignore.title == "Ignore GR0300 on this line" and not ignore.is_preferred
    [comment] = ignore.edit.changes[draft]
    end = types.Position(0, len("let unused_thing = 3"))
    assert (comment.range, comment.new_text) == (
        types.Range(end, end),
        "  # guardrails: ignore[GR0300]",
    )
    edit(client, draft, 5, comment)
    await published(client, draft, [])


async def test_formatting_replaces_the_whole_document_with_fmts_layout(client, rules_dir):
    messy = uri(rules_dir, "messy.rules")
    text = 'on tool_pre_invoke   when tool.name=="🔒"   block'  # no final newline
    open_doc(client, messy, text)
    edits = await client.text_document_formatting_async(
        types.DocumentFormattingParams(
            types.TextDocumentIdentifier(messy), types.FormattingOptions(2, True)
        )
    )
    assert list(edits) == [
        types.TextEdit(
            types.Range(types.Position(0, 0), types.Position(0, len(text) + 1)),
            'on tool_pre_invoke when tool.name == "🔒" block\n',
        )
    ]
    draft_half = uri(rules_dir, "half.rules")
    open_doc(client, draft_half, HALF_TYPED)
    broken = await client.text_document_formatting_async(
        types.DocumentFormattingParams(
            types.TextDocumentIdentifier(draft_half), types.FormattingOptions(2, True)
        )
    )
    assert list(broken) == []  # text that does not parse is left as it is


async def test_a_file_changed_on_disk_is_rechecked_when_the_client_says_so(client, rules_dir):
    (rules_dir / "team").mkdir()
    added = rules_dir / "team" / "added.rules"
    added.write_text('rule approved_models_only on generation_pre_call when model == "x" block\n')
    target = added.as_uri()
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams([types.FileEvent(target, types.FileChangeType.Created)])
    )
    # one ruleset with the files above it: the id is the first's, in model_settings.rules
    [dup] = await published(client, target, [("GR0205", (0, 5, 0, 25))])
    assert "first defined at rules/model_settings.rules:6:6" in dup.message
    [first] = dup.related_information or []
    where = types.Range(types.Position(5, 5), types.Position(5, 25))
    assert first.location == types.Location(uri(rules_dir, "model_settings.rules"), where)
