"""OpenTelemetry metrics for rules: a decision sink that counts.

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

from typing import Any

from ..extras import missing_extra

try:
    from opentelemetry import metrics
except ImportError as err:  # name the extra to install, not a module deep inside
    raise missing_extra("otel", "OpenTelemetry metrics (guardrails.adapters.otel)", err) from None

from ..records import BreakerRecord, CallRecord, DecisionRecord


class OtelMetricsSink:
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
