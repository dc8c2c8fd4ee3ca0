"""Reasons with facts in them: `block "tool {tool.name} is not allowed"` (and a
message's text: `append {"role": "system", "text": "for {tenant}"} to messages`).

A `{...}` in a block, warn or continue reason names a fact path (`{tool.name}`,
`{tool.args["to"]}`, `{messages[0].role}`), nothing else: a reason is read by people
and written into responses and logs, so it can show a value but never compute one.
`{{` and `}}` stand for braces. The parts are cut from the raw literal, so every
interpolation keeps its exact column for the checker's diagnostics (an unknown fact
is GR0201 there, as in a condition).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lark import Token

from ..diagnostics import Diagnostic, Severity
from ..source import SourceFile
from . import ast

Part = str | ast.Expr
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_STEP = re.compile(rf"\.({_NAME})|\[(\d+)\]|\[\"([^\"\\]*)\"\]|\['([^'\\]*)'\]")
_ROOT = re.compile(_NAME)
HINT = 'write a fact path such as {tool.name} or {tool.args["to"]}; {{ and }} stand for braces'


def parse_template(
    file: SourceFile, tok: Token, decode: Callable[[Token], str], diags: list[Diagnostic]
) -> tuple[Part, ...] | None:
    """The parts of the reason literal `tok`, or None when it has no interpolation
    (the common case: the reason is then just its decoded text)."""
    raw = str(tok)[1:-1]
    if "{" not in raw and "}" not in raw:
        return None
    base = (tok.start_pos or 0) + 1
    parts: list[Part] = []
    literal_start = i = 0
    text = ""

    def flush(end: int) -> None:
        nonlocal text
        if end > literal_start:
            piece = Token(
                "STRING", '"' + raw[literal_start:end] + '"', start_pos=base + literal_start - 1
            )
            text += decode(piece)
        if text:
            parts.append(text)
        text = ""

    while i < len(raw):
        ch = raw[i]
        if ch == "\\":
            i += 2
            continue
        if raw.startswith("{{", i) or raw.startswith("}}", i):
            flush(i)
            text = ch
            i += 2
            literal_start = i
            continue
        if ch == "}":
            diags.append(_error(file, base + i, base + i + 1, "unmatched `}` in a reason"))
            return None
        if ch != "{":
            i += 1
            continue
        end = raw.find("}", i + 1)
        if end < 0:
            diags.append(_error(file, base + i, base + len(raw), "unclosed `{` in a reason"))
            return None
        flush(i)
        path = _path(file, raw[i + 1 : end], base + i + 1)
        if path is None:
            message = f"`{{{raw[i + 1 : end]}}}` is not a fact path"
            diags.append(_error(file, base + i, base + end + 1, message))
            return None
        parts.append(path)
        i = literal_start = end + 1
    flush(len(raw))
    return tuple(parts)


def _path(file: SourceFile, inner: str, start: int) -> ast.Expr | None:
    """`inner` (at offset `start`) as the Name/Attr/Index nodes a condition would have."""
    lead = len(inner) - len(inner.lstrip())
    body = inner.strip()
    root = _ROOT.match(body)
    if root is None:
        return None
    at = start + lead
    node: ast.Expr = ast.Name(root.group(0), span=file.span(at, at + root.end()))
    pos = root.end()
    while pos < len(body):
        step = _STEP.match(body, pos)
        if step is None:
            return None
        span = file.span(at, at + step.end())
        attr, number, dq, sq = step.groups()
        if attr is not None:
            node = ast.Attr(node, attr, span=span)
        else:
            key: str | int = int(number) if number is not None else (dq if dq is not None else sq)
            index = ast.Literal(key, span=file.span(at + step.start() + 1, at + step.end() - 1))
            node = ast.Index(node, index, span=span)
        pos = step.end()
    return node


def _error(file: SourceFile, start: int, end: int, message: str) -> Diagnostic:
    return Diagnostic("GR0110", Severity.ERROR, message, file.span(start, end), HINT)


def message_template(
    file: SourceFile, value: ast.Expr, decode: Callable[[Token], str], diags: list[Diagnostic]
) -> tuple[Part, ...] | None:
    """The `{fact}` parts of a message's text (`append`, `prepend`: the `text` of a map
    literal; `replace`: the text itself) when it is a string literal, cut from the
    source as a reason's are."""
    text: ast.Expr | None = value
    if isinstance(value, ast.MapExpr):
        text = next((v for k, v in value.items if k == "text"), None)
    if not (isinstance(text, ast.Literal) and isinstance(text.value, str)):
        return None
    raw = file.text[text.span.start : text.span.end]
    return parse_template(file, Token("STRING", raw, start_pos=text.span.start), decode, diags)
