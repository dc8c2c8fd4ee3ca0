"""A stand-in for `guardrails lsp` while the server (helper S's server.py and
workspace.py) is not in this branch: a bare pygls server with a workspace offering the
three things `language.register` needs, so tests/test_lsp_language.py drives the
features over real stdio. Once `guardrails lsp` exists the test starts it instead.
"""

from __future__ import annotations

from pathlib import Path

from pygls import uris
from pygls.lsp.server import LanguageServer

import guardrails  # noqa: F401  (registers the hosts' hooks)
from guardrails.check.catalog import DEFAULT_CATALOG
from guardrails.tooling.lsp.language import register


class StandInWorkspace:
    def __init__(self, server: LanguageServer) -> None:
        self.server = server
        self.catalog = DEFAULT_CATALOG

    def document_text(self, uri: str) -> str | None:
        doc = self.server.workspace.text_documents.get(uri)
        if doc is not None:
            return doc.source
        path = uris.to_fs_path(uri)
        return Path(path).read_text() if path and Path(path).is_file() else None

    def ruleset_texts(self, uri: str) -> dict[str, str]:
        path = Path(uris.to_fs_path(uri) or "")
        texts = {str(p): p.read_text() for p in sorted(path.parent.rglob("*.rules"))}
        for open_uri, doc in self.server.workspace.text_documents.items():
            open_path = Path(uris.to_fs_path(open_uri) or "")
            if open_path.parent == path.parent or path.parent in open_path.parents:
                texts[str(open_path)] = doc.source
        return texts


def main() -> None:
    server = LanguageServer("guardrails-standin", "0")
    register(server, StandInWorkspace(server))
    server.start_io()


if __name__ == "__main__":
    main()
