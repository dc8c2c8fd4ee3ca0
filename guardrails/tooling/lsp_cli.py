"""`guardrails lsp`: the language server, for editors (docs/editors.md).

pygls is imported only once the command runs, so the CLI starts without the `lsp`
extra and says how to get it when it is missing (or is pygls 1, whose API differs).
"""

from __future__ import annotations

import click


@click.command("lsp")
@click.option("--stdio", is_flag=True, help="Talk over stdin/stdout (the default and only way).")
@click.pass_context
def lsp(ctx: click.Context, stdio: bool) -> None:
    """Run the language server over stdio: diagnostics as `check` gives them for the
    whole rules directory, formatting as `fmt`, quick fixes, completion and hover.

    An editor starts it; you do not run it by hand. Needs the `lsp` extra:
    pip install 'guardrails-rules[lsp]'.
    """
    from ..extras import missing_extra

    try:
        from .lsp.server import serve
    except ImportError as err:
        click.echo(f"error: {missing_extra('lsp', 'guardrails lsp', err)}", err=True)
        ctx.exit(1)
    serve()
