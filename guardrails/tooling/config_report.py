"""`guardrails check-config`: what it prints about a cpex config, and its exit code.

Kept out of the click module so tests can call it and so the CLI stays a thin layer.
"""

from __future__ import annotations

from pathlib import Path

from ..diagnostics import GuardrailsError


def report_config(config: Path) -> tuple[list[str], int]:
    """The lines to print and the exit code (1: a guardrails entry would not run its
    rules, fails every call, or the gateway install cannot work)."""
    from ..adapters.cpex.compat import gateway_problem
    from ..adapters.cpex.config_check import KIND, WARNING, check_file, entry_lines, render

    try:
        problems, entries = check_file(config)
    except GuardrailsError as err:
        return [f"error: {err}"], 1
    out: list[str] = []
    lines = entry_lines(config.read_text(encoding="utf-8"))
    install = gateway_problem()
    if install:
        out.append(f"error: {install}")
    out += render(config, problems, lines if len(lines) == len(entries) else [])
    ours = sum(1 for e in entries if e.kind == KIND)
    errors = sum(1 for p in problems if p.severity != WARNING)
    warnings = f", {len(problems) - errors} warning(s)" if len(problems) > errors else ""
    if not ours:
        out.append(f"{config}: error: no {KIND} entry: no rules run")
    elif errors or install:
        out.append(f"{config}: {errors + bool(install)} error(s){warnings}")
    else:
        noun = "entry" if ours == 1 else "entries"
        out.append(f"{config}: ok: {ours} guardrails {noun}{warnings}")
    return out, 1 if errors or install or not ours else 0
