"""The detector packs: `secrets()`, `pii()`, `injection()` (docs/detectors.md).

Each pack is an optional extra that works offline: its library is imported when a rule
first uses it (`Detector.load`), never when this package is imported, so checking
rules that do not use a pack needs nothing installed. The packs were chosen by
measurement (`benchmarks/bench_detectors.py`, docs/performance.md).
"""

from __future__ import annotations

from ..check.detectors import Detector
from . import injection, pii, secrets

BUILTIN: tuple[Detector, ...] = (secrets.DETECTOR, pii.DETECTOR, injection.DETECTOR)

__all__ = ["BUILTIN", "Detector"]
