"""The cpex modes: what a rule of each may do, and how cpex treats its plugin.

One table, because the same facts decide several things far apart: the checker
refuses a `block` or a `set` that cpex would ignore (GR0231, GR0232), the engine
orders phases and decides what a block, a change or an error does, and the cpex
adapters choose a plugin's `on_error` and how it stops a call. Each used to spell
its own set of mode names; a mode whose behaviour changes in cpex now changes here.
It is plain data in `runtime/` so the engine can read it without the checker.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Mode:
    name: str
    phase: int  # cpex runs every plugin of a phase before the next phase
    can_block: bool  # a `block` means something (in audit it is recorded, as would_block)
    shadow: bool  # a block is only recorded, as `would_block`
    can_modify: bool  # cpex keeps its changes, and later rules see them
    enforced: bool  # cpex acts on its result; otherwise cpex ignores the plugin's errors
    fails_closed: bool  # a rule error blocks the call (cpex's on_error=fail aborts the hook)
    raises_to_block: bool  # cpex ignores its violations: the plugin raises to stop a call
    after_block: bool  # runs even after a block, on the facts as the call began


MODES: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode("sequential", 0, True, False, True, True, True, False, False),
        Mode("transform", 1, False, False, True, True, True, True, False),
        Mode("audit", 2, True, True, False, False, False, False, False),
        Mode("concurrent", 3, True, False, False, True, True, False, False),
        Mode("fire_and_forget", 4, False, False, False, False, False, False, True),
    )
}
DEFAULT_MODE = "sequential"
PHASE_ORDER = {name: mode.phase for name, mode in MODES.items()}

# cpex's legacy names: alias -> (mode, on_error)
MODE_ALIASES = {
    "enforce": ("sequential", "fail"),
    "enforce_ignore_error": ("sequential", "ignore"),
    "permissive": ("transform", "fail"),
}


def plugin_on_error(mode: str, on_error: str) -> str:
    """The `on_error` a cpex plugin of these rules gets: cpex does not enforce audit or
    fire_and_forget plugins, so their errors are ignored whatever the rules say."""
    return on_error if MODES[mode].enforced else "ignore"
