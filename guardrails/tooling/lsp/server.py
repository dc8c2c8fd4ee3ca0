"""`guardrails lsp`: the language server an editor starts over stdio.

It publishes what `guardrails check DIR` reports (errors and lints, the same codes,
spans and hints) for the whole ruleset a document belongs to, formats a document
with `guardrails fmt`, and offers quick fixes: each did-you-mean hint's suggestion,
and `# guardrails: ignore[CODE]` for a warning. Completion, hover and navigation are
registered by `language.register` on the same workspace.

Typing is debounced (a check starts once the buffer has been still for DEBOUNCE
seconds) and runs on a worker thread, so requests are answered meanwhile; a check
that a newer edit has overtaken publishes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from ... import __version__
from ...diagnostics import Diagnostic
from ..fmt import format_text
from .convert import end_of, fix_text, to_lsp, units
from .language import register
from .workspace import RulesWorkspace, folders_of

# what a file's diagnostics were, to publish only what changed (the places they name too)
Said = list[tuple[str, str, str | None, int, int, tuple[tuple[str, int, int], ...]]]
DEBOUNCE = 0.15  # seconds of quiet after a keystroke before the ruleset is re-checked
_IGNORE = re.compile(r"#\s*guardrails:\s*ignore\[([A-Z0-9, ]*)\]")


class RulesServer(LanguageServer):
    def __init__(self, workspace: RulesWorkspace | None = None) -> None:
        super().__init__("guardrails", __version__)
        self.rules = workspace or RulesWorkspace()
        self.pending: dict[str, asyncio.Task[None]] = {}  # ruleset -> its debounced check
        self.generation: dict[str, int] = {}  # ruleset -> edits seen
        self.published: dict[str, set[str]] = {}  # ruleset -> uris with diagnostics shown
        self.said: dict[str, Said] = {}  # uri -> what was published

    def schedule(self, uri: str, delay: float = DEBOUNCE) -> None:
        """Re-check `uri`'s ruleset after `delay`, replacing a check not started yet."""
        key = _ruleset_key(self.rules, uri)
        self.generation[key] = self.generation.get(key, 0) + 1
        waiting = self.pending.pop(key, None)
        if waiting is not None:
            waiting.cancel()
        self.pending[key] = asyncio.get_running_loop().create_task(
            self._check_later(uri, key, self.generation[key], delay)
        )

    async def _check_later(self, uri: str, key: str, generation: int, delay: float) -> None:
        await asyncio.sleep(delay)
        if self.pending.get(key) is asyncio.current_task():
            del self.pending[key]
        encoding = str(self.workspace.position_encoding or types.PositionEncodingKind.Utf16)
        try:
            found = await asyncio.to_thread(self._diagnose, uri, encoding)
        except Exception as err:  # a checker bug must not take the editor's server down
            self.window_log_message(
                types.LogMessageParams(
                    types.MessageType.Error, f"guardrails: check failed: {err!r}"
                )
            )
            return
        if self.generation.get(key) != generation:
            return  # a newer edit's check is coming
        shown = self.published.get(key, set())
        for gone in shown - set(found):
            self.said.pop(gone, None)
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(gone, []))
        for target, (said, diags) in found.items():
            if target != uri and target in shown and self.said.get(target) == said:
                continue  # the editor shows these already: a 1000-rule directory is mostly this
            self.said[target] = said
            opened = self.workspace.text_documents.get(target)
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(
                    target, diags, version=opened.version if opened is not None else None
                )
            )
        self.published[key] = set(found)

    def _diagnose(self, uri: str, encoding: str) -> dict[str, tuple[Said, list[types.Diagnostic]]]:
        """The ruleset's diagnostics in LSP terms, converted before the next check
        moves the spans of the items it keeps (workspace.py)."""
        with self.rules.lock:
            found = self.rules.check(uri)
            return {
                target: (
                    [_said(d) for d in diags],
                    [to_lsp(d, encoding, self.rules.uri_of_display) for d in diags],
                )
                for target, diags in found.items()
            }


def _said(d: Diagnostic) -> tuple[str, str, str | None, int, int, tuple[tuple[str, int, int], ...]]:
    where = tuple((span.file.path, span.start, span.end) for _, span in d.related)
    return d.code, d.message, d.hint, d.span.start, d.span.end, where


def _ruleset_key(rules: RulesWorkspace, uri: str) -> str:
    root = rules.ruleset_root(uri)
    return uri if root is None else str(root)


def build(workspace: RulesWorkspace | None = None) -> RulesServer:
    server = RulesServer(workspace)

    @server.feature(types.INITIALIZE)
    def initialize(ls: RulesServer, params: types.InitializeParams) -> None:
        uris = [f.uri for f in params.workspace_folders or []]
        if not uris and params.root_uri:
            uris = [params.root_uri]
        ls.rules.folders = [p.resolve() for p in folders_of(uris)]

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: RulesServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.rules.open(params.text_document.uri, params.text_document.text)
        ls.schedule(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: RulesServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.rules.change(uri, ls.workspace.get_text_document(uri).source)
        ls.schedule(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: RulesServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: RulesServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.rules.close(uri)
        if ls.rules.ruleset_root(uri) is None:  # an unsaved buffer: nothing left to show
            ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, []))
        else:  # its file on disk counts again
            ls.schedule(uri, 0)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def files_changed(ls: RulesServer, params: types.DidChangeWatchedFilesParams) -> None:
        """A checkout, a file made or deleted outside the editor: its ruleset again
        (the client watches `**/*.rules`; the VS Code extension asks it to)."""
        for change in params.changes:
            if change.uri.endswith(".rules"):
                ls.schedule(change.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def formatting(
        ls: RulesServer, params: types.DocumentFormattingParams
    ) -> list[types.TextEdit] | None:
        uri = params.text_document.uri
        text = ls.rules.document_text(uri)
        if text is None:
            return None
        formatted, _ = format_text(text, uri)
        if formatted is None or formatted == text:
            return []  # a file that does not parse is left alone: its errors say why
        encoding = str(ls.workspace.position_encoding or types.PositionEncodingKind.Utf16)
        whole = types.Range(types.Position(0, 0), end_of(text, encoding))
        return [types.TextEdit(whole, formatted)]

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    def code_action(ls: RulesServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return code_actions(ls, params)

    register(server, server.rules)
    return server


def code_actions(ls: RulesServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    document = ls.workspace.get_text_document(uri)
    encoding = str(ls.workspace.position_encoding or types.PositionEncodingKind.Utf16)
    actions: list[types.CodeAction] = []
    for diag in params.context.diagnostics:
        if diag.source != "guardrails":
            continue
        data = diag.data if isinstance(diag.data, dict) else {}
        fix = data.get("fix")
        if fix is None:  # a client that does not return `data`: work it out again
            hint = diag.message.partition("\nhint: ")[2] or None
            fix = fix_text(hint, document.text_in_client_range(diag.range))
        if fix is not None:
            edit = types.TextEdit(diag.range, fix)
            actions.append(_action(f"Change to `{fix}`", uri, [edit], diag, preferred=True))
        code = data.get("ignore") or (
            diag.code if diag.severity == types.DiagnosticSeverity.Warning else None
        )
        if isinstance(code, str):
            line = diag.range.start.line
            text = document.lines[line].rstrip("\r\n") if line < len(document.lines) else ""
            edit = _ignore_edit(line, text, code, encoding)
            actions.append(_action(f"Ignore {code} on this line", uri, [edit], diag))
    return actions


def _ignore_edit(line: int, text: str, code: str, encoding: str) -> types.TextEdit:
    """Add `code` to the line's ignore comment, or end the line with one."""
    found = _IGNORE.search(text)
    if found is not None:
        at = types.Position(line, units(text[: found.end(1)], encoding))
        listed = found.group(1).strip()
        return types.TextEdit(types.Range(at, at), f", {code}" if listed else code)
    at = types.Position(line, units(text, encoding))
    return types.TextEdit(types.Range(at, at), f"  # guardrails: ignore[{code}]")


def _action(
    title: str,
    uri: str,
    edits: list[types.TextEdit],
    diag: types.Diagnostic,
    preferred: bool = False,
) -> types.CodeAction:
    return types.CodeAction(
        title=title,
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[diag],
        edit=types.WorkspaceEdit(changes={uri: edits}),
        is_preferred=preferred or None,
    )


def serve(workspace: RulesWorkspace | None = None) -> None:
    """`workspace` carries `guardrails lsp --functions/--judge/--disable`."""
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_late_cancel)
    build(workspace).start_io()


def _late_cancel(record: logging.LogRecord) -> bool:
    """Editors cancel requests as the user types on, often after the answer left:
    pygls warns of each one on stderr, which is the user's output channel."""
    return not record.getMessage().startswith("Cancel notification for unknown message id")
