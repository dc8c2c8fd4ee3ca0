"""The analysed grammar, cached per user as data that cannot run code.

Building the LALR tables takes a few hundred ms per process; loading them from the
cache takes a few ms (`benchmarks/bench_load.py` prints both). Lark's own cache is a
pickle: whoever can write the file runs code in every process that reads it, and
`guardrails check` runs inside repositories that others wrote. So the cache holds
Lark's `memo_serialize()` output (dicts, lists, strings, ints, bools) as JSON and is
rebuilt with `Lark.load`; reading it can at worst give a wrong parser, never run
code. It lives in `$XDG_CACHE_HOME/guardrails` when that variable is an absolute path
(the XDG rule: a relative one is invalid and ignored, so the current directory can
never choose it), else `~/.cache/guardrails`; the directory and the file must belong
to the current user and be writable by nobody else, or the cache is not used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lark
from lark import Lark
from lark.grammar import Rule
from lark.lexer import TerminalDef

FORMAT = 1
# JSON has neither tuples nor integer keys; Lark's tables have both
_TUPLE, _INT_KEYS = "\0tuple", "\0int-keys"


def cache_dir() -> Path | None:
    """The private cache directory, created if needed; None if there is none to trust."""
    if os.environ.get("GUARDRAILS_NO_CACHE"):
        return None
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    try:
        root = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
        base = root / "guardrails"
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = base.lstat()
        if not stat.S_ISDIR(info.st_mode) or not _private(info) or not os.access(base, os.W_OK):
            return None  # someone else could write the cache: do without it
    except (OSError, RuntimeError):  # RuntimeError: no home directory to be found
        return None
    return base


def cache_path(key: str) -> Path | None:
    base = cache_dir()
    return None if base is None else base / f"rules-grammar-{key}.json"


def cache_key(grammar: str, options: dict[str, Any]) -> str:
    """Changes with everything the tables depend on, and with this file's format."""
    text = f"{FORMAT}\0{lark.__version__}\0{json.dumps(options, sort_keys=True)}\0{grammar}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _private(info: os.stat_result) -> bool:
    return info.st_uid == os.getuid() and not info.st_mode & 0o022


def read_trusted(path: Path, trusted: Callable[[os.stat_result], bool] = _private) -> bytes | None:
    """The bytes of a cache file, if it is a regular file (a link is not followed)
    whose owner and mode `trusted` accepts; None otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode) or not trusted(info):
            return None
        try:
            return fh.read()
        except OSError:
            return None


def load(path: Path, key: str) -> Lark | None:
    """The cached parser, or None if the file is missing, not ours, or damaged."""
    raw = read_trusted(path)
    if raw is None:
        return None
    try:
        cached = json.loads(raw, object_hook=_decode)
        if cached["format"] != FORMAT or cached["key"] != key:
            return None
        return Lark.load({"data": cached["data"], "memo": cached["memo"]})
    except Exception:  # damaged in any way: the caller rebuilds it
        return None


def save(path: Path, key: str, parser: Lark) -> None:
    """Write the cache atomically (a reader sees the old file or the new one)."""
    try:
        data, memo = parser.memo_serialize([TerminalDef, Rule])
        text = json.dumps(
            {"format": FORMAT, "key": key, "data": _encode(data), "memo": _encode(memo)},
            separators=(",", ":"),
        )
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".rules-grammar-", suffix=".tmp")
    except (OSError, TypeError):  # no room, or tables of a shape we cannot store: no cache
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError:  # a full disk just means no cache
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _encode(value: Any) -> Any:
    if type(value) is dict:
        if all(type(k) is str for k in value):
            return {k: _encode(v) for k, v in value.items()}
        if all(type(k) is int for k in value):
            return {_INT_KEYS: [[k, _encode(v)] for k, v in value.items()]}
    if type(value) is tuple:
        return {_TUPLE: [_encode(v) for v in value]}
    if type(value) is list:
        return [_encode(v) for v in value]
    if value is None or type(value) in (str, int, bool):
        return value
    raise TypeError(f"cannot cache a {type(value).__name__}")  # a Lark we do not know


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if _TUPLE in obj:
            return tuple(obj[_TUPLE])
        if _INT_KEYS in obj:
            return {int(k): v for k, v in obj[_INT_KEYS]}
    return obj
