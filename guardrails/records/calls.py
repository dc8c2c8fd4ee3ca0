"""Call records as every host writes them: one id per hook call, one record per call.

`Policy.evaluate` and the cpex plugins both capture calls; the id format and the
record's shape live here so the two stay alike without a host importing the policy.
"""

from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import Mapping

from ..runtime.decisions import CallRecord
from ..runtime.engine import HookRunner
from ..runtime.facts import Tokenizer
from ..runtime.verdict import Verdict
from .capture import Capture, derive_facts, mask_facts

# per runner (one per hook and version): the facts its rules read, worked out once
_READS: weakref.WeakKeyDictionary[HookRunner, frozenset[str]] = weakref.WeakKeyDictionary()


def new_call_id() -> str:
    """Links one hook call's decision records to its call record."""
    return uuid.uuid4().hex[:16]


def call_record(
    verdict: Verdict,
    facts: object,
    capture: Capture,
    call_id: str,
    duration_ms: float,
    at: float | None = None,
    runner: HookRunner | None = None,
    tokenizer: Tokenizer | None = None,
) -> CallRecord:
    """`at`: the time the call's state windows were reckoned at, when the caller gave
    one (`evaluate(now=...)`), so a replay rebuilds the state as it was. `runner`: the
    hook's rules, whose derived facts are kept (with `tokenizer`, the policy's)."""
    keep = capture.facts and isinstance(facts, Mapping)
    derived = None
    if keep and runner is not None:
        derived = derive_facts(facts, runner_reads(runner), tokenizer)  # type: ignore[arg-type]
    request_id = facts.get("request_id") if isinstance(facts, Mapping) else None
    return CallRecord(
        hook=verdict.hook,
        ruleset=verdict.ruleset,
        time=time.time() if at is None else at,
        request_id=request_id if isinstance(request_id, str) else None,
        call_id=call_id,
        outcome=verdict.outcome,
        blocked_by=verdict.blocked_by,
        code=verdict.code,
        duration_ms=duration_ms,
        facts=mask_facts(facts, capture) if isinstance(facts, Mapping) else None,
        derived=derived,
    )


def runner_reads(runner: HookRunner) -> frozenset[str]:
    """The top-level facts the runner's rules read (derived ones and their sources)."""
    reads = _READS.get(runner)
    if reads is None:
        reads = _READS[runner] = frozenset().union(*(p.reads for p in runner.programs))
    return reads
