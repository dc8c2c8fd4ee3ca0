"""Records of decisions and calls: where they go and how they are read back.

The records themselves are built by the runtime (`guardrails.runtime.decisions`),
which does no I/O; this package holds what does: the sinks, the recorder thread that
feeds them, payload capture for rollout tools and the reader of a decision log.
"""

from __future__ import annotations

from ..runtime.decisions import BreakerRecord as BreakerRecord
from ..runtime.decisions import CallRecord as CallRecord
from ..runtime.decisions import DecisionRecord as DecisionRecord
from ..runtime.decisions import Record as Record
from .capture import Capture as Capture
from .reader import LogError as LogError
from .reader import ReadStats as ReadStats
from .reader import read_records as read_records
from .sinks import JsonlSink as JsonlSink
from .sinks import LoggingSink as LoggingSink
from .sinks import MemorySink as MemorySink
from .sinks import Sink as Sink
