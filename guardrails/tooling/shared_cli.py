"""What the command modules share: colour, diagnostics as text, host-function options.

Every `*_cli.py` module renders diagnostics and colours verdicts the same way; this
is the one place that decides how.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from ..diagnostics import Diagnostic, GuardrailsError, render_text
from .hostspec import host_options


def use_color(ctx: click.Context) -> bool:
    """Color when asked (`--color` via click) or when writing to a terminal."""
    return ctx.color if ctx.color is not None else sys.stdout.isatty()


def click_style(text: str, colour: str) -> str:
    return click.style(text, fg=colour)


def render_diagnostics(diags: Sequence[Diagnostic], ctx: click.Context) -> str:
    """Diagnostics as text, the source lines highlighted when in colour."""
    if not use_color(ctx):
        return render_text(diags)
    try:
        from .highlight import highlight_line
    except ImportError:  # no Pygments: colour without highlighting
        return render_text(diags, color=True, highlight=lambda line: line)
    return render_text(diags, color=True, highlight=highlight_line)


def host_functions(ctx: click.Context, host: dict[str, Any]) -> dict[str, Any]:
    try:  # --functions MODULE[:ATTR] (repeatable), --judge: the host functions rules call
        return host_options(host["functions"], host["judge"])
    except GuardrailsError as err:
        raise click.BadParameter(str(err), ctx, param_hint="--functions") from None
