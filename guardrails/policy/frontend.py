"""The front end without compiling: files read, parsed, checked and linted.

`check` and `check_text` stop here (the CLI, editors, pre-commit); `load` goes on to
compile what this returns (policy/loading.py).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..check import ir
from ..check.builtins import BUILTINS
from ..check.catalog import DEFAULT_CATALOG, Catalog
from ..check.hostcalls import collisions
from ..check.lints import filter_diagnostics, lint, without_unused
from ..check.modules import check_modules
from ..check.reuse import RuleMemo
from ..diagnostics import Diagnostic, GuardrailsError, Severity, has_errors, sort_key
from ..runtime.hostfn import HostFunctionSpecError, HostTable
from ..runtime.hostsig import as_host_functions
from ..source import SourceFile
from ..syntax import ast
from ..syntax.parser import parse

PathLike = str | Path
Paths = PathLike | Sequence[PathLike]


def sources(paths: Paths) -> tuple[list[SourceFile], list[Diagnostic]]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    files: list[SourceFile] = []
    diags: list[Diagnostic] = []
    for item in items:
        root = Path(item)
        display = str(item)
        if root.is_dir():
            found = sorted(p for p in root.rglob("*.rules") if p.is_file())
            if not found:
                diags.append(
                    Diagnostic(
                        "GR0105",
                        Severity.ERROR,
                        f"no .rules files found in {display}",
                        SourceFile(display, "").span(0, 0),
                        hint="rule files end in .rules",
                    )
                )
            targets = [(p, str(Path(display) / p.relative_to(root))) for p in found]
        else:
            targets = [(root, display)]
        for path, shown in targets:
            try:
                files.append(SourceFile.read(path, shown))
            except (OSError, UnicodeDecodeError) as err:
                reason = (
                    "not valid UTF-8"
                    if isinstance(err, UnicodeDecodeError)
                    else (err.strerror or str(err))
                )
                diags.append(
                    Diagnostic(
                        "GR0104",
                        Severity.ERROR,
                        f"cannot read {shown}: {reason}",
                        SourceFile(shown, "").span(0, 0),
                    )
                )
    return files, diags


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Cyclic GC paused: a load allocates hundreds of objects per rule and frees almost
    none, so GC passes over them are pure cost (3.4 s -> 2.1 s for 10,000 rules)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def host_table(functions: object, judge: object) -> HostTable:
    """`load(functions=..., judge=...)` as one table; a name a built-in has, or a
    function the rules cannot type, is an error here, before any rule is read. The
    judge's functions are always declared (rules that call them check everywhere);
    without `judge=` each call fails closed and the checker warns (GR0321)."""
    if isinstance(functions, HostTable):
        return functions
    from ..adapters.judge import judge_functions

    try:
        found = as_host_functions(functions)
        mine = {fn.name for fn in found}
        pack = judge_functions(judge)
        found += pack if judge is not None else [fn for fn in pack if fn.name not in mine]
        table = HostTable(found)
    except HostFunctionSpecError as err:
        raise GuardrailsError(str(err)) from None
    taken = collisions(table, BUILTINS.functions)
    if taken:
        raise GuardrailsError(
            f"host function {taken[0]!r} has the name of a built-in function; "
            f"give it another name (functions={{'my_{taken[0]}': fn}})"
        )
    return table


def front_end(
    files: Sequence[SourceFile], catalog: Catalog, functions: HostTable | None = None
) -> tuple[ir.CheckedRuleset, list[Diagnostic]]:
    return check_parsed([parse(file) for file in files], catalog, functions)


def check_parsed(
    parsed: Sequence[tuple[ast.Module, list[Diagnostic]]],
    catalog: Catalog,
    functions: HostTable | None = None,
    memo: RuleMemo | None = None,
) -> tuple[ir.CheckedRuleset, list[Diagnostic]]:
    """`front_end` after parsing: a caller that keeps parses (the language server
    re-parses only what an edit changed) checks the ruleset as `check` does; with
    `memo`, the rules whose AST it has seen are not checked again (check/reuse.py)."""
    modules = [module for module, _ in parsed]
    diags = [d for _, parse_diags in parsed for d in parse_diags]
    ruleset, check_diags = check_modules(modules, catalog, functions, memo)
    check_diags += lint(ruleset, modules)  # the rules that checked clean, errors or not
    if has_errors(diags):
        check_diags = without_unused(check_diags)
    return ruleset, sorted(filter_diagnostics(diags + check_diags, ()), key=sort_key)


def check(
    paths: Paths,
    *,
    catalog: Catalog | None = None,
    disable: Iterable[str] = (),
    functions: object = None,
    judge: object = None,
) -> list[Diagnostic]:
    """Every diagnostic for the rules at `paths` (errors and warnings); never raises
    for bad rules (bad `functions` raise GuardrailsError, as in `load`).

    `disable` switches lints (warning codes) off; a `# guardrails: ignore[CODE]`
    comment on the flagged line silences one place. `functions` and `judge` declare
    the host functions the rules may call, as for `load` (only their signatures are
    read: nothing is called)."""
    files, diags = sources(paths)
    return _check_files(files, diags, catalog, disable, host_table(functions, judge))


def check_text(
    text: str,
    filename: str = "<stdin>",
    *,
    catalog: Catalog | None = None,
    disable: Iterable[str] = (),
    functions: object = None,
    judge: object = None,
) -> list[Diagnostic]:
    """`check` for rules that are not in a file yet: an editor's unsaved buffer, or
    `guardrails check -`; `filename` is the name diagnostics give."""
    files = [SourceFile(filename, text)]
    return _check_files(files, [], catalog, disable, host_table(functions, judge))


def check_sources(
    files: Sequence[SourceFile],
    *,
    disable: Iterable[str] = (),
    functions: object = None,
    judge: object = None,
) -> list[Diagnostic]:
    """`check` for files already in memory: the console checks the ruleset with one
    file as edited, the others as on disk."""
    return _check_files(list(files), [], None, disable, host_table(functions, judge))


def _check_files(
    files: list[SourceFile],
    diags: list[Diagnostic],
    catalog: Catalog | None,
    disable: Iterable[str],
    table: Any,
) -> list[Diagnostic]:
    with no_gc():
        _, more = front_end(files, catalog or DEFAULT_CATALOG, table)
    return sorted(filter_diagnostics(diags + more, set(disable)), key=sort_key)
