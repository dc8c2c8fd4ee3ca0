"""OpenTelemetry for rules: decisions as span events in the caller's trace, and metrics.

Traces. When the process uses OpenTelemetry tracing (`opentelemetry.trace` imported,
which any configured tracer provider does), every hook call whose rules fired adds
one event per decision, named `guardrails.decision`, to the span current at the
call: the request span of a gateway, a Mellea session's span, the span an app opened
around `policy.evaluate`. Events rather than child spans: a hook call takes
microseconds and an agent run makes hundreds, so spans of their own would bury the
request's timeline, while events sit on the span a viewer already shows, in order;
and with no span current nothing is recorded, rather than new root traces. Hosts
call `trace_verdict` only after checking `opentelemetry.trace` is imported, so a
process without tracing never imports it. `ENABLED = False` turns the events off.

An event's attributes carry what the rules decided, never payload text:
`guardrails.rule`, `.hook`, `.verdict` (block, would_block, warn, modify, error),
`.mode`, `.outcome` (of the hook call: block, modify, allow), `.code`, `.reason`
(the reason as the rules file writes it: a `{prompt}` part stays `{prompt}`, never
filled in), `.changes` (the paths a `set`/`redact` changed), `.error` (the error's
type only), `.location` (file:line of the rule), `.ruleset` and `.call_id` (the
hook call's id in the decision log, with capture on).

Metrics: a decision sink that counts.

    from guardrails.adapters.otel import OtelMetricsSink
    policy = guardrails.load("rules/", sinks=[OtelMetricsSink()], capture=Capture(facts=False))

Counters `guardrails.rule.fires` {rule, hook, verdict, mode} from decision records, and,
from call records (`capture=...`), `guardrails.hook.calls` {hook, outcome} and the
histogram `guardrails.hook.duration` (ms) of the rules' time per hook call, and
`guardrails.breaker.changes` {rule, change, state} from circuit breakers' records
(a trip, probe, reset or reopen; docs/security.md). A rule's
evaluations are the calls of its hooks. Nothing here is imported unless you use it,
so without the `[otel]` extra metrics cost nothing.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from typing import Any

from ..extras import missing_extra

try:
    from opentelemetry import metrics, trace
except ImportError as err:  # name the extra to install, not a module deep inside
    raise missing_extra("otel", "OpenTelemetry (guardrails.adapters.otel)", err) from None

from ..records import BreakerRecord, CallRecord, DecisionRecord
from ..runtime.engine import HookRunner
from ..runtime.program import RuleProgram
from ..runtime.verdict import Verdict

ENABLED = True
_log = logging.getLogger("guardrails.otel")
EVENT = "guardrails.decision"
_PROGRAMS: weakref.WeakKeyDictionary[HookRunner, Mapping[str, RuleProgram]] = (
    weakref.WeakKeyDictionary()
)


def trace_verdict(verdict: Verdict, runner: HookRunner) -> None:
    """One span event per decision of this hook call on the current span, if it records."""
    if not ENABLED:
        return
    try:  # tracing must never break the hook call it describes
        span = trace.get_current_span()
        if not span.is_recording():
            return
        programs = _PROGRAMS.get(runner)
        if programs is None:
            programs = _PROGRAMS[runner] = {p.id: p for p in runner.programs}
        for record in verdict.records:
            span.add_event(EVENT, _attributes(record, verdict.outcome, programs.get(record.rule)))
    except Exception:
        _log.exception("guardrails could not add its decisions to the current span")


def _attributes(
    record: DecisionRecord, outcome: str, program: RuleProgram | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "guardrails.rule": record.rule,
        "guardrails.hook": record.hook,
        "guardrails.verdict": record.verdict,
        "guardrails.mode": record.mode,
        "guardrails.outcome": outcome,
        "guardrails.location": record.location,
        "guardrails.ruleset": record.ruleset,
    }
    if record.code:
        out["guardrails.code"] = record.code
    written = program and (program.block or program.warning)
    if written and written.reason and record.verdict != "error":
        out["guardrails.reason"] = written.reason  # as written: no payload values
    if record.changes:
        out["guardrails.changes"] = list(record.changes)
    if record.error:  # "circuit open", or "TypeName: message": only the type
        out["guardrails.error"] = record.error.split(":", 1)[0]
    if record.call_id:
        out["guardrails.call_id"] = record.call_id
    return out


class OtelMetricsSink:
    """The metrics above, from the records a policy's sinks receive."""

    def __init__(self, meter_provider: Any = None) -> None:
        provider = meter_provider or metrics.get_meter_provider()
        meter = provider.get_meter("guardrails")
        self.fires = meter.create_counter(
            "guardrails.rule.fires", unit="1", description="rules that fired, by verdict"
        )
        self.calls = meter.create_counter(
            "guardrails.hook.calls", unit="1", description="hook calls evaluated, by outcome"
        )
        self.duration = meter.create_histogram(
            "guardrails.hook.duration", unit="ms", description="time in rules per hook call"
        )
        self.breakers = meter.create_counter(
            "guardrails.breaker.changes", unit="1",
            description="circuit breakers' changes of state: trip, probe, reset, reopen",
        )  # fmt: skip

    def emit(self, record: DecisionRecord | CallRecord | BreakerRecord) -> None:
        if isinstance(record, BreakerRecord):
            attributes = {"rule": record.rule or record.breaker, "change": record.change,
                          "state": record.state}  # fmt: skip
            self.breakers.add(1, attributes)
        elif isinstance(record, DecisionRecord):
            self.fires.add(
                1,
                {"rule": record.rule, "hook": record.hook, "verdict": record.verdict,
                 "mode": record.mode},
            )  # fmt: skip
        else:
            attributes = {"hook": record.hook, "outcome": record.outcome or "unknown"}
            self.calls.add(1, attributes)
            if record.duration_ms:
                self.duration.record(record.duration_ms, {"hook": record.hook})

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
