"""The language server's diagnostics latency after an edit, on 1000 rules.

    python benchmarks/bench_lsp.py [--rounds 15]

One rule of a 1000-rule directory is edited (a number changed, as typing does), then
its ruleset is checked again, in two layouts: ten files of 100 rules and one file of
1000. "full" is what a server without a cache would do, `guardrails.check(DIR)` (read,
parse and check every file); "incremental" is the server's workspace
(guardrails/tooling/lsp/workspace.py): only the items of the edited file that the
edit changed are parsed again (syntax/incremental.py), only the rules whose AST is
new are checked again (check/reuse.py), and the duplicate-id and unused checks and
the lints run over the whole ruleset. The parts of an incremental check are timed
alone too, to show which one dominates. Last, the same edit with a `(` typed in it:
a syntax error, which the server recovers from as `parse` does but from the item
before the error (syntax/incremental.py), against a full parse and check of that text. CPU time of one process, medians; the editor
sees this plus the debounce (server.DEBOUNCE) and the JSON-RPC round trip, measured
last through the real server over stdio (wall time).
Target: incremental <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load import ruleset

import guardrails
from guardrails.check.catalog import DEFAULT_CATALOG
from guardrails.check.lints import lint
from guardrails.check.modules import check_modules
from guardrails.check.reuse import RuleMemo
from guardrails.policy.frontend import check_parsed, host_table
from guardrails.runtime.hostfn import HostTable
from guardrails.source import SourceFile
from guardrails.syntax.incremental import IncrementalParser
from guardrails.syntax.parser import get_parser, parse
from guardrails.tooling.lsp.server import DEBOUNCE
from guardrails.tooling.lsp.workspace import RulesWorkspace

RULES = 1000


def layout(root: Path, files: int) -> list[Path]:
    lines = ruleset(RULES).splitlines()
    lets, rules = lines[:2], lines[2:]
    per = len(rules) // files
    paths = []
    for k in range(files):
        path = root / f"part{k:02d}.rules"
        body = (lets if k == 0 else []) + rules[k * per : (k + 1) * per]
        path.write_text("\n".join(body) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def edited(text: str, round_: int) -> str:
    """The text with one rule's number changed (another each round, so no cache hits)."""
    line = next(ln for ln in text.splitlines() if "tokens >" in ln)
    head, _, tail = line.partition("tokens > ")
    number = tail.split()[0]
    return text.replace(line, f"{head}tokens > {int(number) + round_ + 1}{tail[len(number) :]}", 1)


def broken(text: str, round_: int) -> str:
    """`edited`'s text with a `(` typed before the number: a syntax error, as mid-typing."""
    new = edited(text, round_)
    line = next(ln for ln in new.splitlines() if "tokens >" in ln)
    return new.replace(line, line.replace("tokens > ", "tokens > (", 1), 1)


def full_check(files: list[SourceFile], functions: HostTable) -> object:
    """What `guardrails.check` does once the files are read."""
    return check_parsed([parse(f) for f in files], DEFAULT_CATALOG, functions)


def timed(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return (time.process_time() - start) * 1000


def run(files: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "rules"
        root.mkdir()
        paths = layout(root, files)
        target = paths[len(paths) // 2]
        uri, text = target.as_uri(), target.read_text(encoding="utf-8")
        ws = RulesWorkspace([root])
        ws.open(uri, text)
        ws.check(uri)  # warm: every file parsed once, as when the editor opened it
        samples: dict[str, list[float]] = {
            "full check of the directory": [],
            "incremental (server workspace)": [],
            "  re-parse of the changed items": [],
            "  checker, unchanged rules kept": [],
            "  lints over the ruleset": [],
            "full check, the edit a syntax error": [],
            "incremental, the edit a syntax error": [],
        }
        modules = [parse(SourceFile(str(p), p.read_text(encoding="utf-8")))[0] for p in paths]
        at = paths.index(target)
        parser, memo = IncrementalParser(), RuleMemo()
        parser.update(SourceFile(str(target), text))
        functions = host_table(None, None)
        check_modules(modules, DEFAULT_CATALOG, functions, memo)
        for r in range(rounds):
            new = edited(text, r)
            samples["full check of the directory"].append(timed(lambda: guardrails.check(root)))
            ws.change(uri, new)
            samples["incremental (server workspace)"].append(timed(lambda: ws.check(uri)))
            start = time.process_time()
            modules[at] = parser.update(SourceFile(str(target), new))[0]
            samples["  re-parse of the changed items"].append((time.process_time() - start) * 1000)
            start = time.process_time()
            checked, _ = check_modules(modules, DEFAULT_CATALOG, functions, memo)
            samples["  checker, unchanged rules kept"].append((time.process_time() - start) * 1000)
            samples["  lints over the ruleset"].append(timed(partial(lint, checked, modules)))
            bad = broken(text, r)
            files = [SourceFile(str(p), bad if p == target else p.read_text()) for p in paths]
            samples["full check, the edit a syntax error"].append(
                timed(partial(full_check, files, functions))
            )
            ws.change(uri, bad)
            samples["incremental, the edit a syntax error"].append(timed(lambda: ws.check(uri)))
        return {name: statistics.median(values) for name, values in samples.items()}


async def over_stdio(files: int, rounds: int) -> float:
    """Wall time from a didChange sent to its file's diagnostics received, through the
    real server (`guardrails lsp`) and pygls's client: the debounce included."""
    from lsprotocol import types
    from pygls.lsp.client import LanguageClient

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "rules"
        root.mkdir()
        target = layout(root, files)[files // 2]
        uri, text = target.as_uri(), target.read_text(encoding="utf-8")
        client = LanguageClient("bench", "0")
        got: dict[str, asyncio.Event] = {uri: asyncio.Event()}

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params: types.PublishDiagnosticsParams) -> None:
            got.setdefault(params.uri, asyncio.Event()).set()

        await client.start_io(sys.executable, "-m", "guardrails", "lsp")
        await client.initialize_async(
            types.InitializeParams(types.ClientCapabilities(), root_uri=root.as_uri())
        )
        client.initialized(types.InitializedParams())
        item = types.TextDocumentItem(uri, "rules", 1, text)
        client.text_document_did_open(types.DidOpenTextDocumentParams(item))
        await got[uri].wait()
        samples = []
        for r in range(rounds):
            got[uri].clear()
            start = time.perf_counter()
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    types.VersionedTextDocumentIdentifier(version=r + 2, uri=uri),
                    [types.TextDocumentContentChangeWholeDocument(edited(text, r))],
                )
            )
            await got[uri].wait()
            samples.append((time.perf_counter() - start) * 1000)
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
        return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    get_parser()  # the grammar is built once per process, before any timing
    for files in (10, 1):
        results = run(files, args.rounds)
        full = results["full check of the directory"]
        print(
            f"diagnostics after a one-rule edit, {RULES} rules in {files} file(s)   (target: incremental <= 100 ms)"
        )
        for name, ms in results.items():
            if name.startswith("full check, the edit"):
                full = ms  # the ratios below are against a full check of the broken text
            print(f"    {name:<38} {ms:8.1f} ms   {ms / full:5.2f}x")
        wall = asyncio.run(over_stdio(files, args.rounds))
        print(
            f"    {'editor: didChange -> diagnostics':<38} {wall:8.1f} ms   (wall; {DEBOUNCE * 1000:.0f} ms debounce included)"
        )


if __name__ == "__main__":
    main()
