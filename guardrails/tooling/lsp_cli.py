"""`guardrails lsp`: the language server, for editors (docs/editors.md).

pygls is imported only once the command runs, so the CLI starts without the `lsp`
extra and says how to get it when it is missing (or is pygls 1, whose API differs).
"""

from __future__ import annotations

from typing import Any

import click

from .shared_cli import host_functions, lint_codes


@click.command("lsp")
@click.option("--stdio", is_flag=True, help="Talk over stdin/stdout (the default and only way).")
@click.option("--functions", multiple=True, metavar="MODULE[:ATTR]",
              help="host functions the rules call, as for `check`")  # fmt: skip
@click.option("--judge", is_flag=True, help="declare the judge's functions (no model)")
@click.option("--disable", multiple=True, metavar="CODE", help="switch a lint off (repeatable)")
@click.pass_context
def lsp(ctx: click.Context, /, stdio: bool, disable: tuple[str, ...], **host: Any) -> None:
    """Run the language server over stdio: diagnostics as `check` gives them for the
    whole rules directory, formatting as `fmt`, quick fixes, completion and hover.

    An editor starts it; you do not run it by hand. Needs the `lsp` extra:
    pip install 'guardrails-rules[lsp]'. Rules that call your app's functions need
    them declared, as for `check`: --functions MODULE:ATTR (imported from the
    directory the editor starts the server in), --judge.
    """
    from ..extras import missing_extra

    try:
        from .lsp.server import serve
    except ImportError as err:
        click.echo(f"error: {missing_extra('lsp', 'guardrails lsp', err)}", err=True)
        ctx.exit(1)
    lint_codes(ctx, disable)
    from ..policy.frontend import host_table
    from .lsp.workspace import RulesWorkspace

    table = host_table(**host_functions(ctx, host))
    serve(RulesWorkspace(functions=table, disable=disable))
