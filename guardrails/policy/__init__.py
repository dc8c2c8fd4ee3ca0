"""Loading rules into a `Policy`, and reloading them."""

from __future__ import annotations

from .policy import Policy as Policy
from .policy import check as check
from .policy import load as load
from .policy import loads as loads
