"""Writing from the console (`guardrails ui --write` only): a rules file inside RULES,
a case file inside --corpus, nowhere else.

A name from the browser is a relative path; it is refused when absolute, when any
part is `..` or hidden, when it does not end in the one suffix allowed, and when it
resolves (symlinks followed) outside the directory given on the command line. Files
are replaced atomically, so a `serve --watch` on the same rules never reads half a
file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from ...check.catalog import DEFAULT_CATALOG
from ..corpus import RESERVED, CorpusError, load_case
from ..expectations import parse_expect
from .state import ConsoleState
from .workbench import WorkbenchError, diagnostic_json, diagnostics, file_names

_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")  # \Z: `$` would pass "x\n"


def target(root: Path, name: str, suffix: str) -> Path:
    """`root`/`name`, or a WorkbenchError (403) saying why that path is refused."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not name or PurePosixPath(name).is_absolute() or name.startswith(("/", "\\")):
        raise _refused(f"{name!r}: give a path relative to {root}")
    bad = [p for p in parts if p in ("..", ".") or not _PART.match(p)]
    if bad:
        raise _refused(
            f"{name!r}: {bad[0]!r} is not allowed in a path (letters, digits, _ . -; "
            "no '..', no hidden names)"
        )
    if not name.endswith(suffix) or len(parts[-1]) == len(suffix):
        raise _refused(f"{name!r}: only {suffix} files can be saved here")
    base = root.resolve()
    path = base.joinpath(*parts).resolve()
    if not path.is_relative_to(base):
        raise _refused(f"{name!r} resolves to {path}, outside {base}")
    return path


def _refused(message: str) -> WorkbenchError:
    return WorkbenchError("path_refused", message, 403)


def _need_write(state: ConsoleState, what: str) -> None:
    if not state.write:
        raise WorkbenchError(
            "read_only", f"the console is read-only: {what} needs `guardrails ui ... --write`", 403
        )


def _replace(path: Path, text: str) -> None:
    """Write `path` atomically; an OSError (a folder of that name, no permission, a
    full disk) is a WorkbenchError naming the file, nothing written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as err:
        raise _cannot_save(path, err) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _cannot_save(path, err) from None
        raise


def _cannot_save(path: Path, err: OSError) -> WorkbenchError:
    return WorkbenchError("cannot_save", f"cannot save {path}: {err.strerror or err}", 500)


def save_rules(state: ConsoleState, name: str, text: str) -> dict[str, Any]:
    """Save a rules file of the ruleset; refused while the ruleset would have errors
    (a server watching these files would otherwise be handed broken rules)."""
    _need_write(state, "saving rules")
    if not state.rules.is_dir() and name != state.rules.name:
        raise _refused(f"{name!r}: this console serves one file, {state.rules.name}")
    path = target(state.rules_root, name, ".rules")
    found = diagnostics(state, {name: text})
    errors = [d for d in found if d.severity.value == "error"]
    if errors:
        raise WorkbenchError(
            "rules_have_errors",
            f"not saved: the rules would have {len(errors)} error(s)",
            422,
            diagnostics=[diagnostic_json(d) for d in found],
        )
    _replace(path, text)
    return {"saved": name, "files": sorted(file_names(state))}


def save_case(
    state: ConsoleState,
    hook: str,
    name: str,
    payload: str,
    description: str | None = None,
    expect: list[str] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Save the playground's payload as corpus case HOOK/NAME.json, in the format the
    corpus reads (`facts`, with `description`, `expect`, `now`, `state` kept), checked
    by the corpus loader itself before it is kept."""
    _need_write(state, "saving a corpus case")
    if state.corpus is None:
        raise WorkbenchError(
            "no_corpus", "no corpus directory: start `guardrails ui ... --corpus DIR --write`", 400
        )
    if hook not in DEFAULT_CATALOG:
        raise WorkbenchError("unknown_hook", f"unknown hook {hook!r}")
    if not _PART.match(name):
        raise _refused(f"{name!r}: a case name is letters, digits, _ . - (no folders)")
    file = name if name.endswith(".json") else f"{name}.json"
    path = target(state.corpus, f"{hook}/{file}", ".json")
    if path.exists() and not overwrite:
        raise WorkbenchError("exists", f"{hook}/{file} exists; choose another name", 409)
    data = _case_data(payload, description, expect)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    with tempfile.TemporaryDirectory(prefix="guardrails-case-") as tmp:
        check = Path(tmp) / file
        check.write_text(text, encoding="utf-8")
        try:
            load_case(check, hook)  # what `guardrails test` will read, refused here first
        except CorpusError as err:
            shown = str(err).replace(str(check), f"{hook}/{file}")
            raise WorkbenchError("bad_case", shown) from None
    _replace(path, text)
    return {"saved": f"{hook}/{file}", "case": data}


def _case_data(payload: str, description: str | None, expect: list[str] | None) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except ValueError as err:
        raise WorkbenchError("bad_payload", f"payload is not valid JSON: {err}") from None
    except RecursionError:
        raise WorkbenchError("bad_payload", "payload is nested too deeply to read") from None
    if not isinstance(data, dict):
        raise WorkbenchError("bad_payload", "payload must be a JSON object of facts")
    if "facts" in data:
        case = {k: v for k, v in data.items() if k in RESERVED}
    else:
        case = {k: data[k] for k in RESERVED if k in data}
        case["facts"] = {k: v for k, v in data.items() if k not in (*RESERVED, "hook")}
    if description:
        case["description"] = description
    if expect:
        try:
            parse_expect(expect, Path("case"))
        except CorpusError as err:
            raise WorkbenchError("bad_expect", str(err)) from None
        case["expect"] = expect if len(expect) > 1 else expect[0]
    order = ("description", "expect", "now", "state", "judge", "facts")
    return {k: case[k] for k in order if k in case}
