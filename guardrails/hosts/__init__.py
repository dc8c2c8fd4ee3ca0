"""Each host's hooks as plain data: which hooks it fires, with what payload.

Checking a rules file needs every host's hooks and none of the host libraries, so the
tables are written out here, one module per host, importing nothing but the standard
library. The checker knows no host: its catalog takes tables by registration
(`guardrails.check.catalog.add_hosts`), and `guardrails.policy` registers `BUILTIN`
into the default catalog when it is imported. Everything that loads or checks rules
goes through `import guardrails`, which imports `guardrails.policy`, so the default
catalog is complete before any rule is read. The adapters that connect these hooks to
the host libraries are in `guardrails.adapters`.
"""

from __future__ import annotations

from . import cpex, haystack, mellea
from .table import HostTable

BUILTIN: tuple[HostTable, ...] = (mellea.TABLE, cpex.TABLE, haystack.TABLE)

__all__ = ["BUILTIN", "HostTable"]
