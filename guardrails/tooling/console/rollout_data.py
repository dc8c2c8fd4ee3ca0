"""The dashboard's numbers, as JSON-ready data: `guardrails report`, `promote`'s gate
and `replay` run on the console's logs and rules, plus the timelines and audience
counts of timeline.py.

Nothing here imports the web framework (dashboard.py serves it). What leaves this
module are counts, rule ids, hooks, codes, call ids, times and verdict
descriptions: a record's facts are read for who made the call (kept as hashes,
timeline.Audience) and replayed, never returned, so a prompt in a log never reaches
a browser.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...diagnostics import GuardrailsError, RulesError, render_text
from ...policy.policy import Policy, load
from ..rollout.counts import VERDICTS, Report, report
from ..rollout.promotion import gate
from ..rollout.replays import ReplayResult, cases_from_log, replay
from .timeline import Audience, Join, Timeline

DEFAULT_MAX_RATE = 0.05
DEFAULT_MIN_SAMPLES = 100
EXAMPLES = 3


class DashboardError(Exception):
    """What the dashboard cannot answer: `code` and `status` for the API's error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Thresholds:
    max_rate: float = DEFAULT_MAX_RATE
    min_samples: int = DEFAULT_MIN_SAMPLES

    @classmethod
    def parse(cls, max_rate: str | None, min_samples: str | None) -> Thresholds:
        try:
            rate = DEFAULT_MAX_RATE if max_rate in (None, "") else float(max_rate)
            samples = DEFAULT_MIN_SAMPLES if min_samples in (None, "") else int(min_samples)
        except ValueError:
            raise DashboardError(
                400, "bad_threshold", "max_rate is a number from 0 to 1, min_samples a whole number"
            ) from None
        if not 0.0 <= rate <= 1.0 or samples < 0:
            raise DashboardError(
                400, "bad_threshold", "max_rate must be from 0 to 1 and min_samples 0 or more"
            )
        return cls(rate, samples)


@dataclass
class Aggregate:
    report: Report
    timeline: Timeline
    audience: Audience


RECORDED, SAVED = "recorded", "rules"  # what a replay is compared with


def files_changed_key(paths: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    """Changes when a file is written (size, mtime): what the console's caches key on."""
    out = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            out.append((str(path), -1, -1))
            continue
        out.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(out)


class RolloutData:
    """One console's dashboard: the logs aggregated once per change of the logs or
    the rules (a log is re-read when it grows), the rules loaded once per change."""

    def __init__(
        self,
        rules: Path,
        logs: Sequence[Path],
        options: dict[str, Any] | None = None,
        rules_files: Callable[[], list[Path]] | None = None,
        shown: str | None = None,
    ) -> None:
        self.rules = rules
        self.shown = shown or str(rules)  # RULES as typed: the commands shown use it
        self.logs = tuple(logs)
        self.options = dict(options or {})
        self.rules_files = rules_files or (lambda: [rules])
        self.lock = threading.Lock()
        self._policy: tuple[Any, Policy | None, str | None] | None = None
        self._loads = 0  # which load of the rules the cached answers were made with
        self._aggregate: tuple[Any, Aggregate] | None = None
        self._replay: tuple[Any, ReplayResult] | None = None

    # -- inputs ----------------------------------------------------------------

    def _need_logs(self) -> None:
        if not self.logs:
            raise DashboardError(
                404, "no_decisions",
                "the console was started without a decision log: "
                "run `guardrails ui RULES --decisions LOG` (a log written with "
                "load(..., capture=...))",
            )  # fmt: skip

    def policy(self) -> tuple[Policy | None, str | None]:
        """The console's rules, or None and why they do not load."""
        key = files_changed_key(self.rules_files())
        if self._policy is None or self._policy[0] != key:
            try:
                loaded, problem = load(self.rules, **self.options), None
            except RulesError as err:
                loaded, problem = None, render_text(err.diagnostics)
            except GuardrailsError as err:
                loaded, problem = None, str(err)
            self._policy = (key, loaded, problem)
            self._loads += 1
        return self._policy[1], self._policy[2]

    def aggregate(self) -> Aggregate:
        self._need_logs()
        policy, _ = self.policy()
        key = (files_changed_key(self.logs), self._loads)
        if self._aggregate is None or self._aggregate[0] != key:
            timeline, audience = Timeline(), Audience()
            join = Join(timeline, audience)
            try:
                rep = report(self.logs, policy, observe=join.add)
            except GuardrailsError as err:
                raise DashboardError(422, "unreadable_log", str(err)) from None
            join.finish()
            self._aggregate = (key, Aggregate(rep, timeline, audience))
        return self._aggregate[1]

    # -- answers ---------------------------------------------------------------

    def summary(self, thresholds: Thresholds) -> dict[str, Any]:
        with self.lock:
            agg = self.aggregate()
            policy, problem = self.policy()
            rep = agg.report
            rows = []
            for stats in rep.rules:
                row = stats.to_dict()
                row["top_codes"] = [{"code": c, "count": n} for c, n in stats.codes.most_common(5)]
                row.update(agg.audience.of(stats.rule, stats.hook))
                rows.append(row)
            return {
                "logs": [str(p) for p in self.logs],
                "records": rep.records,
                "calls": dict(sorted(rep.calls.items())),
                "skipped_lines": len(rep.skipped_lines),
                "damaged": rep.damaged,
                "verdicts": list(VERDICTS),
                "rules": rows,
                "only_record_state": rep.recording,
                "audience": agg.audience.to_dict(),
                "time": agg.timeline.to_dict(),
                "rules_error": problem,
                "gates": self._gates(rep, policy, thresholds),
            }

    def timeline(self, rule: str | None = None) -> dict[str, Any]:
        with self.lock:
            agg = self.aggregate()
            rows = [s for s in agg.report.rules if rule is None or s.rule == rule]
            if rule is not None and not rows:
                raise DashboardError(404, "no_rule", f"no rule {rule!r} in the log or the rules")
            return {
                **agg.timeline.to_dict(),
                "series": [agg.timeline.series(s.rule, s.hook) for s in rows],
            }

    def gates(self, thresholds: Thresholds) -> dict[str, Any]:
        with self.lock:
            agg = self.aggregate()
            policy, problem = self.policy()
            return {
                "max_rate": thresholds.max_rate,
                "min_samples": thresholds.min_samples,
                "rules_error": problem,
                "gates": self._gates(agg.report, policy, thresholds),
            }

    def _gates(
        self, rep: Report, policy: Policy | None, thresholds: Thresholds
    ) -> list[dict[str, Any]]:
        """`promote`'s gate for every rule in audit mode, with the command that would
        promote it."""
        if policy is None:
            return []
        recording = {p.id for p in policy.compiled.programs if p.records_only}
        out = []
        for info in policy.rules:
            if info.mode != "audit" or info.id in recording:
                continue
            answer = gate(rep, info.id, thresholds.max_rate, thresholds.min_samples)
            command = ["guardrails", "promote", info.id, "--rules", self.shown]
            for log in self.logs:
                command += ["--decisions", str(log)]
            command += ["--max-rate", f"{thresholds.max_rate:g}"]
            command += ["--min-samples", str(thresholds.min_samples), "--dry-run"]
            out.append(
                {
                    "rule": info.id,
                    "hooks": list(info.hooks),
                    "evaluations": answer.evaluations,
                    "would_blocks": answer.would_blocks,
                    "rate": answer.rate,
                    "max_rate": thresholds.max_rate,
                    "min_samples": thresholds.min_samples,
                    "allowed": answer.allowed,
                    "reasons": answer.reasons,
                    "command": shlex.join(command),
                }
            )
        return out

    def replay(
        self, candidate: Policy | None = None, examples: int = EXAMPLES, against: str = RECORDED
    ) -> dict[str, Any]:
        """The console's rules (or `candidate`: the playground's edits) replayed on
        the logged calls, against what the log recorded or (`against="rules"`, for an
        edit) the console's rules as saved, as `replay --baseline` does: the edit's
        own changes, and a changed rule judged alone where the log masked what other
        rules read."""
        with self.lock:
            self._need_logs()
            if against not in (RECORDED, SAVED):
                raise DashboardError(400, "bad_against", "against is 'recorded' or 'rules'")
            policy, problem = self.policy()
            if candidate is not None:
                baseline = None
                if against == SAVED:
                    if policy is None:
                        raise DashboardError(
                            422, "rules_error", problem or "the saved rules do not load"
                        )
                    baseline = policy
                result = self._run_replay(candidate, None, baseline)
                return replay_panel(result, examples, "edited", against)
            if policy is None:
                raise DashboardError(422, "rules_error", problem or "the rules do not load")
            key = (files_changed_key(self.logs), self._loads)
            return replay_panel(self._run_replay(policy, key), examples, "rules")

    def _run_replay(
        self, candidate: Policy, key: Any, baseline: Policy | None = None
    ) -> ReplayResult:
        if key is not None and self._replay is not None and self._replay[0] == key:
            return self._replay[1]
        try:
            cases = cases_from_log(self.logs)
            result = replay(candidate, cases, baseline)
        except GuardrailsError as err:
            raise DashboardError(422, "replay_failed", str(err)) from None
        if key is not None:
            self._replay = (key, result)
        return result


def _blocker(description: str) -> str | None:
    """The rule in a replay description (`block by RULE code CODE`)."""
    parts = description.split(" ")
    return parts[2] if len(parts) > 2 and parts[0] == "block" else None


def replay_panel(
    result: ReplayResult,
    examples: int = EXAMPLES,
    candidate: str = "rules",
    against: str = RECORDED,
) -> dict[str, Any]:
    """Per rule: newly blocked / newly allowed / changed block counts (and, against a
    baseline, calls where the rule alone decides differently), and the first few
    calls of each (call id, hook, old -> new verdict, the blocking side's reason)."""
    rules: dict[str, dict[str, Any]] = {}
    for change in (*result.changes, *result.rule_changes):
        if change.rule is not None:  # judged alone
            rule = change.rule
        else:
            side = change.before if change.kind == "newly_allowed" else change.after
            rule = _blocker(side) or "?"
        entry = rules.setdefault(
            rule,
            {"rule": rule, "newly_blocked": 0, "newly_allowed": 0, "changed_block": 0,
             "rule_result": 0, "examples": []},
        )  # fmt: skip
        entry[change.kind] += 1
        shown = [e for e in entry["examples"] if e["kind"] == change.kind]
        if len(shown) < examples:
            entry["examples"].append(
                {"kind": change.kind, "call": change.case, "hook": change.hook,
                 "before": change.before, "after": change.after, "reason": change.reason}
            )  # fmt: skip
    return {
        "candidate": candidate,  # rules: the console's RULES; edited: the playground's
        "baseline": against,  # recorded: what the log recorded; rules: the saved rules
        **result.summary(),
        "rules": sorted(rules.values(), key=lambda e: e["rule"]),
    }
