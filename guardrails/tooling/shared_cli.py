"""What the command modules share: colour, diagnostics as text, host-function options.

Every `*_cli.py` module renders diagnostics and colours verdicts the same way; this
is the one place that decides how.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from ..diagnostics import CODES, Diagnostic, GuardrailsError, render_text
from .hostspec import host_options

F = TypeVar("F", bound=Callable[..., Any])


def use_color(ctx: click.Context, stream: Any = None) -> bool:
    """Colour when asked (`guardrails --color`), never with `--no-color` or `NO_COLOR`
    set (no-color.org), else when `stream` (standard output) is a terminal."""
    if ctx.color is not None:
        return ctx.color
    if os.environ.get("NO_COLOR"):
        return False
    return bool((stream or sys.stdout).isatty())


_QUIET = "guardrails.quiet"


def quiet_option(command: F) -> F:
    """`-q/--quiet` on a command, as on the group: problems and results only."""

    def remember(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        if value:
            ctx.meta[_QUIET] = True
        return value

    return click.option(
        "-q", "--quiet", is_flag=True, expose_value=False, callback=remember,
        help="print problems and results only: no summaries or progress",
    )(command)  # fmt: skip


def set_quiet(ctx: click.Context, quiet: bool) -> None:
    if quiet:
        ctx.meta[_QUIET] = True


def is_quiet(ctx: click.Context) -> bool:
    """`ctx.meta` is shared by the group's context and its command's."""
    return bool(ctx.meta.get(_QUIET))


def click_style(text: str, colour: str) -> str:
    return click.style(text, fg=colour)


def render_diagnostics(diags: Sequence[Diagnostic], ctx: click.Context, err: bool = False) -> str:
    """Diagnostics as text, the source lines highlighted when in colour (decided for
    standard error when `err`: that is where they go)."""
    if not use_color(ctx, sys.stderr if err else None):
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


def lint_codes(ctx: click.Context, codes: Sequence[str]) -> None:
    """`--disable` takes lint (warning) codes: another code would switch nothing off,
    silently."""
    lints = sorted(c for c in CODES if c.startswith("GR03"))
    for code in codes:
        if code in CODES and code not in lints:
            message = f"{code} is an error, not a lint: errors cannot be switched off"
            raise click.BadParameter(message, ctx, param_hint="--disable")
        if code not in lints:
            close = difflib.get_close_matches(code, lints, n=1)
            hint = f"; did you mean {close[0]}?" if close else f" (lints: {', '.join(lints)})"
            message = f"{code!r} is not a lint code{hint}"
            raise click.BadParameter(message, ctx, param_hint="--disable")
