"""The rules an editor sees: open buffers over the files on disk, one ruleset per directory.

`guardrails check rules/` checks a directory as one ruleset (lets are shared across
files, rule ids must be unique across them), so the server does the same: a document
belongs to the highest directory above it, within the editor's workspace folder,
whose every level holds `.rules` files (`rules/` for `rules/tools.rules`); an open
buffer wins over its file on disk, and a buffer that is no file (`untitled:`) is a
ruleset of its own.

An edit changes one file, and mostly one item of it: re-checking re-parses only the
items of that file the edit touched (syntax/incremental.py; other files' parses are
kept per path and text), checks again only the rules whose AST is new while the
lets and states are unchanged (check/reuse.py), and runs the duplicate-id and unused
checks and the lints over the whole ruleset, as those are what make it one ruleset
(benchmarks/bench_lsp.py measures the parts). The spans of kept items are moved in
place, so a check's diagnostics are read before the next check of their ruleset
(the server converts them holding `lock`).
No pygls here: the server feeds the buffers in, and helper modules and tests use
this directly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from ...check.catalog import DEFAULT_CATALOG, Catalog
from ...check.reuse import RuleMemo
from ...diagnostics import Diagnostic
from ...policy.frontend import check_parsed, host_table, no_gc
from ...runtime.hostfn import HostTable
from ...source import SourceFile
from ...syntax import ast
from ...syntax.incremental import IncrementalParser

Parsed = tuple[ast.Module, list[Diagnostic]]


def uri_path(uri: str) -> Path | None:
    """The file a `file:` URI names; None for other schemes (an unsaved buffer)."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return Path(url2pathname(unquote(parsed.path)))


class RulesWorkspace:
    """Open documents and the rules directories on disk; what helper modules read
    (`document_text`, `ruleset_texts`, `catalog`) and what the server checks."""

    def __init__(
        self,
        folders: Iterable[Path] = (),
        catalog: Catalog = DEFAULT_CATALOG,
        functions: HostTable | None = None,
        disable: Iterable[str] = (),
    ):
        self.catalog = catalog
        self.folders = [folder.resolve() for folder in folders]
        self._open: dict[str, str] = {}  # uri -> buffer text
        self._uris: dict[str, str] = {}  # path -> the uri the client named it by
        self._disk: dict[str, tuple[int, int, str]] = {}  # path -> (mtime_ns, size, text)
        self._parses: dict[str, tuple[str, Parsed]] = {}  # key -> (text, its parse)
        self._parsers: dict[str, IncrementalParser] = {}  # key -> its file's kept pieces
        self._memos: dict[str, RuleMemo] = {}  # ruleset root -> its rules' kept checks
        self._displays: dict[str, str] = {}  # the path diagnostics name a file by -> key
        # what `guardrails check` declares, or `guardrails lsp --functions/--judge`
        self._functions = functions if functions is not None else host_table(None, None)
        self._disable = frozenset(disable)  # lints switched off, as `check --disable`
        # the server checks on a worker thread; it holds this while it reads a result too
        self.lock = threading.RLock()

    @property
    def functions(self) -> HostTable:
        """The host functions rules may call (completion and hover offer them)."""
        return self._functions

    # ---- buffers ----

    def open(self, uri: str, text: str) -> None:
        self._open[uri] = text
        path = uri_path(uri)
        if path is not None:
            self._uris[str(path.resolve())] = uri

    change = open

    def close(self, uri: str) -> None:
        self._open.pop(uri, None)

    def document_text(self, uri: str) -> str | None:
        """The open buffer, else the file on disk; None when neither exists."""
        if uri in self._open:
            return self._open[uri]
        path = uri_path(uri)
        return None if path is None else self._read(path.resolve())

    # ---- rulesets ----

    def ruleset_root(self, uri: str) -> Path | None:
        path = uri_path(uri)
        if path is None:
            return None
        path = path.resolve()
        folder = self._folder(path)
        root = path.parent
        while root not in (folder, root.parent) and _has_rules(root.parent):
            if folder is not None and not root.parent.is_relative_to(folder):
                break
            root = root.parent
        return root

    def ruleset_texts(self, uri: str) -> dict[str, str]:
        """Path -> text of every `.rules` file of the document's ruleset (an unsaved
        buffer is keyed by its uri), open buffers winning over disk."""
        root = self.ruleset_root(uri)
        if root is None:
            return {uri: self._open.get(uri, "")}
        texts: dict[str, str] = {}
        for path in sorted(p for p in root.rglob("*.rules") if p.is_file()):
            key = str(path)
            buffer = self._open.get(self._uris.get(key, ""))
            text = buffer if buffer is not None else self._read(path)
            if text is not None:
                texts[key] = text
        for uri_, buffer_text in list(self._open.items()):  # new files not saved yet
            new = uri_path(uri_)
            if new is not None and new.suffix == ".rules":
                key = str(new.resolve())
                if key not in texts and new.resolve().is_relative_to(root):
                    texts[key] = buffer_text
        return dict(sorted(texts.items()))

    def uri_of(self, key: str) -> str:
        if key in self._uris:
            return self._uris[key]
        return key if "://" in key or key.startswith("untitled:") else Path(key).as_uri()

    def uri_of_display(self, display: str) -> str | None:
        """The URI of a file a diagnostic names (`rules/a.rules`), once checked."""
        key = self._displays.get(display)
        return None if key is None else self.uri_of(key)

    def check(self, uri: str) -> dict[str, list[Diagnostic]]:
        """Every diagnostic of the document's ruleset, by uri; every file of the
        ruleset has an entry (an empty list clears what the editor showed)."""
        return self.diagnose(self.ruleset_texts(uri), self.ruleset_root(uri))

    def diagnose(
        self, texts: dict[str, str], root: Path | None = None
    ) -> dict[str, list[Diagnostic]]:
        shown = {key: _display(key, root) for key in texts}
        by_display = {name: key for key, name in shown.items()}
        self._displays.update(by_display)
        memo = self._memos.setdefault(str(root) if root else next(iter(texts), ""), RuleMemo())
        with self.lock, no_gc():
            parsed = [self._parse(key, shown[key], text) for key, text in texts.items()]
            for kept in set(self._parses) - set(texts):
                if kept not in self._open and not Path(kept).is_file():
                    del self._parses[kept]  # deleted files are not kept
                    self._parsers.pop(kept, None)
            _, diags = check_parsed(parsed, self.catalog, self._functions, memo)
        diags = [d for d in diags if d.code not in self._disable]
        out: dict[str, list[Diagnostic]] = {self.uri_of(key): [] for key in texts}
        for d in diags:
            key = by_display.get(d.file)
            if key is not None:
                out[self.uri_of(key)].append(d)
        return out

    def _parse(self, key: str, display: str, text: str) -> Parsed:
        kept = self._parses.get(key)
        if kept is not None and kept[0] == text and kept[1][0].file.path == display:
            return kept[1]
        parser = self._parsers.setdefault(key, IncrementalParser())
        if kept is not None and kept[1][0].file.path != display:
            parser.pieces = None  # the file is shown by another name: nothing kept
        parsed = parser.update(SourceFile(display, text))
        self._parses[key] = (text, parsed)
        return parsed

    def _read(self, path: Path) -> str | None:
        try:
            stat = path.stat()
            kept = self._disk.get(str(path))
            if kept is not None and kept[:2] == (stat.st_mtime_ns, stat.st_size):
                return kept[2]
            text = SourceFile.read(path).text
        except (OSError, UnicodeDecodeError):
            return None
        self._disk[str(path)] = (stat.st_mtime_ns, stat.st_size, text)
        return text

    def _folder(self, path: Path) -> Path | None:
        inside = [f for f in self.folders if path.is_relative_to(f)]
        return max(inside, key=lambda f: len(f.parts)) if inside else None


def _has_rules(directory: Path) -> bool:
    return any(p.is_file() for p in directory.glob("*.rules"))


def _display(key: str, root: Path | None) -> str:
    """The path diagnostics name a file by, as `guardrails check DIR` would."""
    if root is None or "://" in key or key.startswith("untitled:"):
        return key
    return str(Path(root.name) / Path(key).relative_to(root))


def folders_of(uris: Sequence[str]) -> list[Path]:
    return [p for p in (uri_path(u) for u in uris) if p is not None]
