"""Compiled rulesets, cached: a load whose inputs were all seen before links stored
data (compile/loader.Lowered) instead of parsing, checking and generating again.

The key covers everything the result depends on: the sources (display paths and
text), the hook catalog, the host functions' signatures, the text size cap, this
engine's own code and grammar, and the Python and Lark versions; rules with a `since`
date also key on today's date (the audit-age lint changes with it), and rules that
name a detector on whether its library starts here (else GR0275). An entry is JSON
(compile/serial.py): data of named types and the generated source, which a load runs
like one it generated itself (no builtins, every user value a parameter or constant).
That source is the one thing in an entry that is code, so an entry is read only from
a directory and file owned by this user (or root, for images built with `guardrails
compile`) and writable by no one else. Its code must also be what our generator
writes (`_generated`): no double underscore, and no name (global or attribute) but
the runtime's, the generated ones and the few methods generated code calls. A
namespace without builtins is not enough on its own: a generator's `gi_frame.f_back`
reaches the loader's frame and its builtins without one underscore pair, and Python
reads fullwidth low lines (U+FF3F) in an identifier as `_`.

Where: `load(cache=...)`, else `$GUARDRAILS_RULES_CACHE`, else the per-user cache
directory of the grammar cache. At most `MAX_ENTRIES` entries and `MAX_BYTES` bytes
are kept; the least recently used go first. Any failure to read or write just means
a cold load: the cache never changes a verdict or an error.
"""

from __future__ import annotations

import contextlib
import datetime
import dis
import functools
import hashlib
import json
import os
import re
import stat
import sys
import tempfile
import threading
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from ..check import ir
from ..check.catalog import Catalog, canonical
from ..check.detectors import DETECTORS, missing
from ..diagnostics import Diagnostic, Severity
from ..runtime.hostfn import HostTable
from ..source import SourceFile
from ..syntax import grammar_cache
from .loader import Lowered, runtime_namespace
from .serial import Unencodable, decode, decode_rows, encode, encode_rows

FORMAT = 1
ENV = "GUARDRAILS_RULES_CACHE"
MAX_ENTRIES = 64
MAX_BYTES = 256 * 1024 * 1024
_PREFIX = "ruleset-"
_SINCE = re.compile(r"\bsince\b")
# what generated code names besides the runtime's exports: its own functions, loops and
# hoisted constants (`_p3`, `_q0`, `_k12`, `_s1_0`), host functions (`_h_NAME`), and
# the methods it calls on strings, dicts and lists
_GENERATED = re.compile(r"_[a-z][0-9]+(?:_[0-9]+)?|_h_[A-Za-z0-9_]+")
_METHODS = frozenset({"get", "append", "startswith", "endswith"})
_MATCH_CLASS = dis.opmap["MATCH_CLASS"]  # `case C(attr=x)` reads an attribute by name

Setting = str | Path | bool | None


class LazyRules(Mapping[str, ir.CheckedRule]):
    """The checked rules of a version loaded from the cache, worked out on first use
    (by `--explain`, never by a hook call)."""

    def __init__(self, work: Callable[[], ir.CheckedRuleset]) -> None:
        self._work: Callable[[], ir.CheckedRuleset] | None = work
        self._rules: dict[str, ir.CheckedRule] = {}
        self._lock = threading.Lock()

    def _get(self) -> dict[str, ir.CheckedRule]:
        with self._lock:
            if self._work is not None:
                self._rules = {rule.id: rule for rule in self._work().rules}
                self._work = None
        return self._rules

    def __getitem__(self, key: str) -> ir.CheckedRule:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def directory(setting: Setting) -> Path | None:
    """The cache directory a load uses (None: no cache). `setting` is `load(cache=)`:
    None for the default, False for none, or a directory (`guardrails compile -o`)."""
    if setting is False:
        return None
    if setting is None or setting is True:
        chosen = os.environ.get(ENV)
        if not chosen:
            return grammar_cache.cache_dir()
        setting = chosen
    path = Path(setting)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError:
        return None
    return path if stat.S_ISDIR(info.st_mode) and _trusted(info) else None


def _trusted(info: os.stat_result) -> bool:
    """Ours or root's, and writable by neither group nor others."""
    return info.st_uid in (os.getuid(), 0) and not info.st_mode & 0o022


@functools.cache
def engine_fingerprint() -> str:
    """This engine's code (each module's size and modification time: an upgrade or an
    edit in a checkout changes them) and grammar, and the interpreter: a change to any
    of them makes every entry a miss."""
    from ..syntax.parser import fingerprint

    h = hashlib.sha256(f"{FORMAT}\0{sys.version}\0{fingerprint()}\0".encode())
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*.py")):
        info = path.stat()
        h.update(f"{path.relative_to(package)}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    return h.hexdigest()


def key(
    files: Sequence[SourceFile],
    catalog: Catalog,
    functions: HostTable | None,
    max_match_chars: int,
) -> str:
    h = hashlib.sha256(engine_fingerprint().encode())
    for file in files:
        for part in (file.path, file.text):
            h.update(part.encode(errors="surrogatepass") + b"\0")
    h.update(catalog.digest().encode())
    for name in sorted(functions or ()):
        fn = functions[name]  # type: ignore[index]
        h.update(
            canonical((fn.name, fn.params, fn.result, fn.result_nullable, fn.missing)).encode()
        )
    h.update(f"\0{max_match_chars}".encode())
    if any(_SINCE.search(file.text) for file in files):
        h.update(datetime.date.today().isoformat().encode())
    for name, detector in sorted(DETECTORS.items()):
        # a detector whose library cannot start here is an error (GR0275) in a cold
        # load: an entry built where it could must not load without that error
        if any(re.search(rf"\b{re.escape(name)}\b", file.text) for file in files):
            h.update(f"\0{name}:{missing(detector) is None}".encode())
    return h.hexdigest()[:40]


def read(
    base: Path, entry_key: str, files: Sequence[SourceFile]
) -> tuple[Lowered, str, list[Diagnostic]] | None:
    """The entry's data, its ruleset hash and its warnings; None on any doubt."""
    path = entry(base, entry_key)
    raw = grammar_cache.read_trusted(path, _trusted)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        if data["format"] != FORMAT or data["key"] != entry_key:
            return None
        low = Lowered(
            data["source"],
            decode(data["constants"]),
            decode_rows(data["programs"]),
            decode(data["plans"]),
        )
        if not _generated(low.source, low.constants):
            return None
        by_path = {file.path: file for file in files}
        warnings = [
            Diagnostic(code, Severity(sev), message, by_path[where].span(start, end), hint)
            for code, sev, message, where, start, end, hint in data["warnings"]
        ]
        digest = data["hash"]
    except Exception:  # damaged, or not ours in some way: a cold load
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # its last use, for eviction
    return low, digest, warnings


@functools.cache
def _runtime_names() -> frozenset[str]:
    return frozenset(runtime_namespace(None, 1)) | _METHODS


def _generated(source: str, constants: Mapping[str, object]) -> bool:
    """Whether `source` names nothing our generator would not: code made of other
    names could climb from any object it holds to the interpreter's internals."""
    if "__" in source or not all(type(k) is str and _GENERATED.fullmatch(k) for k in constants):
        return False
    try:
        code = compile(source, "<guardrails:cache>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    allowed = _runtime_names()
    stack = [code]
    while stack:
        code = stack.pop()
        if _MATCH_CLASS in code.co_code[::2]:  # opcodes sit at even offsets
            return False
        for name in code.co_names:  # identifiers here are NFKC-normalised already
            if name not in allowed and not _GENERATED.fullmatch(name):
                return False
        stack += [c for c in code.co_consts if type(c) is types.CodeType]
    return True


def write(
    base: Path, entry_key: str, low: Lowered, digest: str, warnings: Sequence[Diagnostic]
) -> bool:
    """Store an entry atomically; False when it cannot be (a value with no safe form,
    a source `read` would refuse, a full disk)."""
    if not _generated(low.source, low.constants):
        return False
    try:
        text = json.dumps(
            {
                "format": FORMAT,
                "key": entry_key,
                "hash": digest,
                "source": low.source,
                "constants": encode(low.constants),
                "programs": encode_rows(low.programs),
                "plans": encode(low.plans),
                "warnings": [
                    [d.code, str(d.severity), d.message, d.span.file.path, d.span.start,
                     d.span.end, d.hint]
                    for d in warnings
                ],
            },
            separators=(",", ":"),
        )  # fmt: skip
    except (Unencodable, ValueError):
        return False
    try:
        fd, tmp = tempfile.mkstemp(dir=base, prefix=".ruleset-", suffix=".tmp")
    except OSError:
        return False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, entry(base, entry_key))
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False
    evict(base)
    return True


def entry(base: Path, entry_key: str) -> Path:
    return base / f"{_PREFIX}{entry_key}.json"


def evict(base: Path, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
    """Drop the least recently used entries beyond the bounds."""
    entries: list[tuple[float, int, Path]] = []
    for path in base.glob(f"{_PREFIX}*.json"):
        with contextlib.suppress(OSError):
            info = path.stat()
            entries.append((info.st_mtime, info.st_size, path))
    entries.sort(reverse=True)  # newest first
    total = 0
    for count, (_, size, path) in enumerate(entries, start=1):
        total += size
        if count > max_entries or total > max_bytes:
            with contextlib.suppress(OSError):
                path.unlink()
