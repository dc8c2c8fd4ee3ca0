"""Rollout tools over decision logs: report, replay and promote.

A decision log is JSON Lines from `JsonlSink`: decision records (one per rule that
fired) and, when the policy was loaded with `capture`, call records (one per hook
call, with masked facts and the derived facts its rules read).
"""

from __future__ import annotations

from .counts import VERDICTS as VERDICTS
from .counts import Report as Report
from .counts import RuleStats as RuleStats
from .counts import format_report as format_report
from .counts import report as report
from .promotion import PromoteResult as PromoteResult
from .promotion import promote as promote
from .replays import Case as Case
from .replays import Change as Change
from .replays import ReplayResult as ReplayResult
from .replays import cases_from_corpus as cases_from_corpus
from .replays import cases_from_log as cases_from_log
from .replays import format_replay as format_replay
from .replays import replay as replay
