"""The editor features' LSP handlers: completion, hover, definition, references.

Each handler asks the workspace for the document's ruleset (every `.rules` file of its
directory, open buffers winning over disk) and hands the texts to the pure functions
of complete.py, hover.py and symbols.py; this module only converts to and from the
protocol's types. The server calls `register` once, before it starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from lsprotocol import types as lsp
from pygls import uris
from pygls.lsp.server import LanguageServer

from ...check.catalog import Catalog
from ...runtime.hostfn import HostFunction
from .complete import Completion, complete
from .hover import hover
from .lexed import Range
from .symbols import Location, definition, references

TRIGGERS = [".", " ", "[", "{"]  # `when tool.`, `on `, `# guardrails: ignore[`, `"no {`

_KINDS = {
    "hook": lsp.CompletionItemKind.Event,
    "fact": lsp.CompletionItemKind.Field,
    "field": lsp.CompletionItemKind.Property,
    "function": lsp.CompletionItemKind.Function,
    "let": lsp.CompletionItemKind.Constant,
    "state": lsp.CompletionItemKind.Variable,
    "mode": lsp.CompletionItemKind.EnumMember,
    "keyword": lsp.CompletionItemKind.Keyword,
    "action": lsp.CompletionItemKind.Keyword,
    "code": lsp.CompletionItemKind.Value,
    "value": lsp.CompletionItemKind.Value,
}


class Workspace(Protocol):
    """What the server's workspace gives the features (server.py's side of the seam)."""

    catalog: Catalog

    @property
    def functions(self) -> Mapping[str, HostFunction]: ...
    def document_text(self, uri: str) -> str | None: ...
    def ruleset_texts(self, uri: str) -> dict[str, str]: ...


def ruleset(workspace: Workspace, uri: str) -> tuple[dict[str, str], str]:
    """The ruleset's texts by path, and the document's key among them (the document is
    added when the workspace does not list it: a file outside any rules directory)."""
    texts = dict(workspace.ruleset_texts(uri))
    doc = uris.to_fs_path(uri) or uri
    wanted = _resolved(doc)
    key = next((k for k in texts if _resolved(k) == wanted), None)
    if key is None:
        texts[doc] = workspace.document_text(uri) or ""
        key = doc
    return texts, key


def _resolved(path: str) -> str:
    try:
        return str(Path(path).resolve())
    except (OSError, ValueError):
        return path


def _range(r: Range) -> lsp.Range:
    return lsp.Range(lsp.Position(*r.start), lsp.Position(*r.end))


def _location(loc: Location) -> lsp.Location:
    return lsp.Location(uris.from_fs_path(loc.path) or loc.path, _range(loc.range))


def completion_item(c: Completion) -> lsp.CompletionItem:
    doc = lsp.MarkupContent(lsp.MarkupKind.Markdown, c.doc) if c.doc else None
    edit = lsp.TextEdit(_range(c.range), c.insert or c.label) if c.range else None
    return lsp.CompletionItem(
        label=c.label, kind=_KINDS.get(c.kind), detail=c.detail or None, documentation=doc,
        text_edit=edit,
    )  # fmt: skip


def register(server: LanguageServer, workspace: Workspace) -> None:
    """Add the completion, hover, definition and references handlers to a pygls server."""

    @server.feature(
        lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=TRIGGERS)
    )
    def on_completion(params: lsp.CompletionParams) -> lsp.CompletionList:
        texts, key = ruleset(workspace, params.text_document.uri)
        pos = params.position
        found = complete(
            texts, key, pos.line, pos.character, workspace.catalog, workspace.functions
        )
        return lsp.CompletionList(is_incomplete=False, items=[completion_item(c) for c in found])

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def on_hover(params: lsp.HoverParams) -> lsp.Hover | None:
        texts, key = ruleset(workspace, params.text_document.uri)
        pos = params.position
        found = hover(texts, key, pos.line, pos.character, workspace.catalog, workspace.functions)
        if found is None:
            return None
        content = lsp.MarkupContent(lsp.MarkupKind.Markdown, found.markdown)
        return lsp.Hover(contents=content, range=_range(found.range))

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def on_definition(params: lsp.DefinitionParams) -> list[lsp.Location]:
        texts, key = ruleset(workspace, params.text_document.uri)
        pos = params.position
        return [_location(loc) for loc in definition(texts, key, pos.line, pos.character)]

    @server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
    def on_references(params: lsp.ReferenceParams) -> list[lsp.Location]:
        texts, key = ruleset(workspace, params.text_document.uri)
        pos = params.position
        found = references(texts, key, pos.line, pos.character, params.context.include_declaration)
        return [_location(loc) for loc in found]
