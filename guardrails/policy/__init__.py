"""Loading rules into a `Policy`, and reloading them.

Importing this package also completes the default hook catalog with the hosts' hook
tables (`guardrails.hosts`): the checker knows no host, and every way to load or
check rules passes through here first (`import guardrails` imports it), so this is
the one place the language and the hosts' data meet.
"""

from __future__ import annotations

from .. import detectors, hosts
from ..check.catalog import add_hosts
from ..check.detectors import add_detectors

add_hosts(hosts.BUILTIN)
add_detectors(detectors.BUILTIN)

from .policy import Policy as Policy  # noqa: E402
from .policy import check as check  # noqa: E402
from .policy import load as load  # noqa: E402
from .policy import loads as loads  # noqa: E402
