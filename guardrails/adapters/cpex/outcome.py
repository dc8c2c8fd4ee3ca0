"""One hook call through a real cpex manager, summed up as one line of text.

The snapshot corpus runs every case through `Policy.evaluate` and through cpex and
compares the two; this is the cpex half, in words a snapshot can hold.
"""

from __future__ import annotations

from typing import Any

from cpex.framework import GlobalContext, PluginError

from .binding import decisions


async def outcome(manager: Any, hook: str, facts: dict[str, Any], request_id: str) -> str:
    """`allow`, `modify`, `block by RULE code CODE` or `raises PluginError from the G
    rules`, then `; would_block by RULE` for each shadowed block."""
    context = GlobalContext(request_id=request_id)
    try:
        result, _ = await manager.invoke_hook(hook, dict(facts), context)
    except PluginError as err:
        group = str(err.error.plugin_name).rsplit(":", 1)[-1]  # drop the ruleset hash
        return f"raises PluginError from the {group} rules"
    if not result.continue_processing and result.violation is not None:
        details = result.violation.details or {}
        text = f"block by {details.get('rule')} code {result.violation.code}"
    elif result.modified_payload is not None:
        text = "modify"
    else:
        text = "allow"
    shadow = sorted(d["rule"] for d in decisions(result) if d.get("verdict") == "would_block")
    return text + "".join(f"; would_block by {r}" for r in shadow)
