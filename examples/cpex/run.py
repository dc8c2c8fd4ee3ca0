"""Load rules/ through a cpex YAML config and send it tool calls.

    python examples/cpex/run.py                 # plugins.yaml: rules in this process
    python examples/cpex/run.py external.yaml   # the same rules behind `guardrails serve`

Runs from the repository root, as the configs' paths are relative to it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

from cpex.framework import (
    GlobalContext,
    TenantPluginManager,
    ToolPostInvokePayload,
    ToolPreInvokePayload,
)

HERE = Path(__file__).resolve().parent
CALLS: list[tuple[str, Any, dict[str, Any]]] = [
    ("tool_pre_invoke", ToolPreInvokePayload(name="search", args={"q": "docs"}), {"role": "guest"}),
    ("tool_pre_invoke", ToolPreInvokePayload(name="shell", args={"cmd": "ls"}), {"role": "guest"}),
    ("tool_pre_invoke", ToolPreInvokePayload(name="shell", args={"cmd": "ls"}), {"role": "sre"}),
    (
        "tool_post_invoke",
        ToolPostInvokePayload(name="read_env", result="user=app password=hunter2hunter2"),
        {"role": "sre"},
    ),
]


async def main(config: Path) -> None:
    manager = TenantPluginManager(str(config))
    await manager.initialize()
    try:
        for i, (hook, payload, user) in enumerate(CALLS):
            result, _ = await manager.invoke_hook(
                hook, payload, GlobalContext(request_id=f"call-{i}", user=user)
            )
            what = f"{hook:<17} {payload.name:<8} {user['role']:<6}"
            if not result.continue_processing:
                print(f"{what} BLOCK  [{result.violation.code}] {result.violation.reason}")
            elif result.modified_payload is not None:
                print(f"{what} MODIFY {result.modified_payload.model_dump(exclude_none=True)}")
            else:
                print(f"{what} allow")
    finally:
        await manager.shutdown()


if __name__ == "__main__":
    logging.getLogger("cpex").setLevel(logging.CRITICAL)
    logging.getLogger("mcp").setLevel(logging.CRITICAL)
    # an external entry that cannot start must stop us, not be skipped (docs/hosts.md)
    os.environ.setdefault("PLUGINS_FAIL_ON_PLUGIN_ERROR", "true")
    os.chdir(HERE.parent.parent)
    asyncio.run(main(HERE / (sys.argv[1] if len(sys.argv) > 1 else "plugins.yaml")))
