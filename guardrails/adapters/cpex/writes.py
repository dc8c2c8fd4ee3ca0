"""Which payload fields a cpex manager lets plugins change, against what rules write.

cpex keeps a plugin's changes only to fields its `HookPayloadPolicy` for the hook lists
(or all fields when there is none and the default is allow). A redaction (or an added
message) it drops would reach the host undone while our records say `modify`, so a
manager is checked before our plugins go into it, and `hook_policies` builds policies
that fit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cpex.framework import HookPayloadPolicy

from ...runtime.modes import MODES
from ...runtime.program import Change

if TYPE_CHECKING:
    from ...policy.policy import Policy

# payload fields a rule's write to a fact may land in, by host
_WRITE_FIELDS = {
    "tool.args": frozenset({"args", "model_tool_call"}),
    "tool.name": frozenset({"name"}),
    "tool.output": frozenset({"result", "tool_output"}),
    "model_options": frozenset({"model_options", "parameters"}),
}


def hook_policies(policy: Policy) -> dict[str, HookPayloadPolicy]:
    """A writable-field policy for every hook the rules use (isolates payloads, too)."""
    out: dict[str, HookPayloadPolicy] = {}
    for hook in filter(policy.catalog.in_cpex, policy.hooks):
        spec = policy.catalog.get(hook)
        writable = spec.writable_fields if spec else frozenset()
        out[hook] = HookPayloadPolicy(writable_fields=frozenset(writable))
    return out


def _written(path: tuple[Any, ...]) -> str:
    """The fact a write lands in, as `_WRITE_FIELDS` names it."""
    root = str(path[0])
    return f"{root}.{path[1]}" if root == "tool" and len(path) > 1 else root


def dropped_writes(policy: Policy, manager: Any) -> list[str]:
    """Hooks where the manager's payload policy would drop what our rules write."""
    executor = getattr(manager, "executor", None)
    policies = getattr(executor, "hook_policies", None) or {}
    default = getattr(executor, "default_hook_policy", "allow")
    deny = str(getattr(default, "value", default)) == "deny"
    problems: list[str] = []
    for hook in filter(policy.catalog.in_cpex, policy.hooks):
        roots = {
            _written(tuple(action.path))
            for prog in policy.programs(hook)
            if MODES[prog.mode].can_modify
            for action in prog.actions
            if isinstance(action, Change)
        }
        if not roots:
            continue
        hook_policy = policies.get(hook)
        if hook_policy is None:
            if deny:
                problems.append(f"{hook} (no payload policy, and the default is deny)")
            continue
        allowed = frozenset(getattr(hook_policy, "writable_fields", ()) or ())
        blocked = sorted(
            {r.split(".")[0] for r in roots if not allowed & _WRITE_FIELDS.get(r, frozenset({r}))}
        )
        if blocked:
            problems.append(f"{hook} (its payload policy does not let {', '.join(blocked)} change)")
    return problems
