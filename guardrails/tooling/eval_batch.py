"""`guardrails eval RULES --payload DIR`: every payload file of a folder, one row each.

A folder of payloads is how people keep samples (examples/payloads/, a corpus): each
file names its hook (`"hook"`), or sits in a folder named after it, as in a corpus;
`--hook` is the fallback for the rest. A file that cannot be evaluated is a row with
its error, not the end of the run, and makes the run fail: a sample that silently
drops out of a check is a sample nobody checks.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..check.catalog import Catalog
from ..policy.policy import Policy
from ..runtime.verdict import Verdict
from .eval_text import PayloadError, evaluate, read_payload
from .terminal import printable


@dataclass(frozen=True)
class Row:
    file: str
    hook: str | None
    verdict: Verdict | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"file": self.file, "hook": self.hook}
        if self.verdict is not None:
            data["verdict"] = self.verdict.to_dict()
        else:
            data["error"] = self.error
        return data


def payload_files(folder: Path) -> list[Path]:
    """The JSON files under `folder`, sorted; snapshot folders are not payloads."""
    return sorted(
        p for p in folder.rglob("*.json") if p.is_file() and "__snapshots__" not in p.parts
    )


def evaluate_folder(
    policy: Policy,
    folder: Path,
    catalog: Catalog,
    hook: str | None = None,
    state_text: str | None = None,
    now: str | None = None,
) -> Iterator[Row]:
    for file in payload_files(folder):
        name = file.relative_to(folder).as_posix()
        try:
            with file.open(encoding="utf-8") as handle:
                facts, prior = read_payload(handle)
        except (OSError, UnicodeDecodeError, PayloadError) as err:
            yield Row(name, None, error=str(err))
            continue
        chosen = _hook(prior.get("hook"), file.parent.name, hook, catalog)
        if isinstance(chosen, PayloadError):
            yield Row(name, None, error=str(chosen))
            continue
        unknown = catalog.unknown_facts(chosen, facts)
        if unknown:  # a misspelt fact would be a false pass
            yield Row(name, chosen, error="payload fact " + "; ".join(unknown))
            continue
        state = io.StringIO(state_text) if state_text is not None else None
        try:
            result = evaluate(policy, chosen, facts, prior, state, now)
        except PayloadError as err:
            yield Row(name, chosen, error=str(err))
            continue
        yield Row(name, chosen, result.verdict)


def _hook(in_file: object, folder: str, given: str | None, catalog: Catalog) -> str | PayloadError:
    """The file's `hook`, else its folder's name when that is a hook, else --hook."""
    if in_file is not None:
        if not isinstance(in_file, str) or in_file not in catalog:
            return PayloadError(f"the file's hook {in_file!r} is not a known hook")
        return in_file
    if folder in catalog:
        return folder
    if given is not None:
        return given
    return PayloadError('no hook: give the file a "hook", put it in a folder named after '
                        "its hook, or pass --hook")  # fmt: skip


_SHOWN = ("modify", "warn", "would_block", "error")  # what a call that went through met


def format_table(rows: list[Row]) -> str:
    """One line per file: file, hook, outcome, and the blocking rule with its code, or
    the rules that changed, warned about or would have blocked a call that went on."""
    table = [("file", "hook", "outcome", "by", "code / error")]
    for row in rows:
        v = row.verdict
        if v is None:
            table.append((row.file, row.hook or "-", "ERROR", "", row.error or ""))
        else:
            by = v.blocked_by or ", ".join(
                r.rule_id + ("" if r.verdict == "modify" else f" ({r.verdict})")
                for r in v.rules
                if r.verdict in _SHOWN
            )
            table.append((row.file, v.hook, v.outcome.upper(), by, v.code or ""))
    cells = [[printable(c) for c in line] for line in table]
    widths = [max(len(line[i]) for line in cells) for i in range(4)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(line, widths, strict=False)), line[4]])
             for line in cells]  # fmt: skip
    counts = {o: sum(1 for r in rows if r.verdict and r.verdict.outcome == o)
              for o in ("allow", "block", "modify")}  # fmt: skip
    errors = sum(1 for r in rows if r.verdict is None)
    summary = f"{len(rows)} payload(s): " + ", ".join(f"{n} {o}" for o, n in counts.items())
    return "\n".join([*(ln.rstrip() for ln in lines), "", summary + f", {errors} error(s)"])
