"""`guardrails fmt`: one canonical layout for rules files, comments kept.

The formatter prints the AST (so the result parses to the same rules: tested as
parse(fmt(x)) == parse(x) and fmt(fmt(x)) == fmt(x)) and puts the comments back, each
on a line of its own or at the end of one, never two on one line: comments between
items stay above the item they precede; inside an item, a comment on a line of its
own stays above the clause or action that follows it, and a comment after code
follows the clause or action on that line (when lines are joined, as `mode` and
`priority` are, the comments they carried go above the joined line, the last one
staying at its end).

Layout: `let`s one per line; one blank line between rules; a named rule has its
header on the first line and one clause or action per line below, indented two
spaces; an anonymous rule stays on one line if it fits in 100 columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..diagnostics import Diagnostic
from ..source import SourceFile
from ..syntax import ast
from ..syntax.parser import parse
from ..syntax.tokens import comments

WIDTH = 100
INDENT = "  "
_PREC = {"or": 1, "and": 2, "not": 3, "compare": 4, "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7}


# ---- expressions ----


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def quote(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif not ch.isprintable():
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def regex(node: ast.RegexLit) -> str:
    body: list[str] = []
    i = 0
    pattern = node.pattern
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            body.append(pattern[i : i + 2])
            i += 2
            continue
        body.append("\\/" if pattern[i] == "/" else pattern[i])
        i += 1
    return f"/{''.join(body)}/{node.flags}"


def _prec(node: ast.Expr) -> int:
    if isinstance(node, ast.BoolOp):
        return _PREC[node.op]
    if isinstance(node, ast.Unary):
        return _PREC["not"] if node.op == "not" else _PREC["neg"]
    if isinstance(node, ast.Compare):
        return _PREC["compare"]
    if isinstance(node, ast.BinOp):
        return _PREC[node.op]
    if isinstance(node, ast.Quantified) and node.kind in ("any", "all"):
        return 0  # its condition runs to the end: parenthesized inside anything
    return 9


def expr(node: ast.Expr) -> str:
    if isinstance(node, ast.Literal):
        value = node.value
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return quote(value)
        return repr(value)
    if isinstance(node, ast.RegexLit):
        return regex(node)
    if isinstance(node, ast.ListExpr):
        return "[" + ", ".join(expr(i) for i in node.items) + "]"
    if isinstance(node, ast.MapExpr):
        return "{" + ", ".join(f"{quote(k)}: {expr(v)}" for k, v in node.items) + "}"
    if isinstance(node, ast.Name):
        return node.name
    if isinstance(node, ast.Attr):
        return f"{_wrap(node.obj, 9)}.{node.name}"
    if isinstance(node, ast.Index):
        return f"{_wrap(node.obj, 9)}[{expr(node.index)}]"
    if isinstance(node, ast.Call):
        return f"{node.func.name}({', '.join(expr(a) for a in node.args)})"
    if isinstance(node, ast.Quantified):
        head = f"{node.var.name} in {_wrap(node.items, _PREC['+'])}: {expr(node.body)}"
        return f"{node.kind} {head}" if _prec(node) == 0 else f"{node.kind}({head})"
    if isinstance(node, ast.Unary):
        if node.op == "not":
            return f"not {_wrap(node.operand, _PREC['not'])}"
        return f"-{_wrap(node.operand, _PREC['neg'])}"
    if isinstance(node, ast.BoolOp):
        p = _PREC[node.op]
        return f"{_wrap(node.left, p)} {node.op} {_wrap(node.right, p + 1)}"
    if isinstance(node, ast.Compare):
        p = _PREC["compare"]
        return f"{_wrap(node.left, p + 1)} {node.op} {_wrap(node.right, p + 1)}"
    if isinstance(node, ast.BinOp):
        p = _PREC[node.op]
        return f"{_wrap(node.left, p)} {node.op} {_wrap(node.right, p + 1)}"
    raise NotImplementedError(type(node).__name__)


def _wrap(node: ast.Expr, minimum: int) -> str:
    text = expr(node)
    return f"({text})" if _prec(node) < minimum else text


def path(node: ast.Path) -> str:
    out = node.root
    for key in node.keys:
        if isinstance(key, int):
            out += f"[{key}]"
        elif key.isidentifier():
            out += f".{key}"
        else:
            out += f"[{quote(key)}]"
    return out


def action(node: ast.Action) -> str:
    if isinstance(node, ast.Block):
        out = node.kind
        if node.reason is not None:
            out += f" {quote(node.reason)}"
        if node.code is not None:
            out += f" code {node.code.name}"
        return out
    if isinstance(node, ast.SetAction):
        return f"set {path(node.target)} = {expr(node.value)}"
    if isinstance(node, ast.AddAction):
        return f"add {expr(node.amount)} to {node.state.name}"
    if isinstance(node, ast.TrackAction):
        return f"track {node.state.name}"
    if isinstance(node, ast.MessageAction):
        if node.pattern is not None:
            return f"replace {path(node.target)} {expr(node.pattern)} with {expr(node.value)}"
        return f"{node.kind} {expr(node.value)} to {path(node.target)}"
    out = f"redact {path(node.target)} {expr(node.pattern)}"
    if node.operator is not None:
        out += f" with {node.operator}"
    elif node.replacement is not None:
        out += f" with {quote(node.replacement)}"
    return out


# ---- items ----


@dataclass
class _Line:
    text: str
    source_line: int  # where the construct started in the input (for comments)
    comments: list[str] = field(default_factory=list)  # after code on its lines
    above: list[str] = field(default_factory=list)  # on lines of their own before it
    inside: bool = False  # it closes a block: comments above it are indented as its items

    @property
    def one_line(self) -> bool:
        """It renders as one line: no comment of its own line, at most one after it."""
        return not self.above and len(self.comments) <= 1

    def render(self, indent: str = "") -> list[str]:
        """Its comments in their order, one per line; the last one after code stays
        at the end of the text."""
        *extra, last = self.comments or [""]
        lead = indent + (
            INDENT if self.inside else self.text[: len(self.text) - len(self.text.lstrip())]
        )
        out = [lead + c for c in (*self.above, *extra)]
        out.append(indent + self.text + (f"  {last}" if last else ""))
        return out


def _rule_lines(rule: ast.Rule) -> list[_Line]:
    parts: list[_Line] = []
    for hooks in rule.hooks:  # a second `on` is an error the checker reports: kept
        parts.append(_Line("on " + ", ".join(h.name for h in hooks), hooks[0].span.line))
    settings: list[tuple[str, int]] = [(f"mode {m.name}", m.span.line) for m in rule.modes]
    settings += [(f"priority {value}", span.line) for value, span in rule.priorities]
    settings += [(f"on_error {o.name}", o.span.line) for o in rule.on_errors]
    if rule.since is not None:
        settings.append((f"since {quote(rule.since[0])}", rule.since[1].line))
    settings += [(_breaker(b), b.span.line) for b in rule.breakers]
    if settings:  # mode, priority, on_error, since and breaker share one line
        parts.append(_Line(" ".join(t for t, _ in settings), min(ln for _, ln in settings)))
    for cond in rule.when:
        parts.append(_Line(f"when {expr(cond)}", cond.span.line))
    for cond in rule.unless:
        parts.append(_Line(f"unless {expr(cond)}", cond.span.line))
    for act in rule.actions:
        parts.append(_Line(action(act), act.span.line))
    if rule.name is not None:
        header = f"rule {rule.name.name}"
        if rule.description is not None:
            header += f" {quote(rule.description)}"
        return [_Line(header, rule.span.line), *parts]
    return parts


def _breaker(clause: ast.BreakerClause) -> str:
    if clause.setting is not None:
        return f"breaker {clause.setting.name}"
    assert clause.failures and clause.window and clause.cooldown
    count, window, cooldown = clause.failures[0], clause.window[0], clause.cooldown[0]
    return f"breaker {count} in {duration(window)} cooldown {duration(cooldown)}"


def _state_lines(decl: ast.StateDecl) -> list[_Line]:
    out = f"{decl.kind} {decl.name.name}"
    if decl.keys:
        out += " per " + ", ".join(expr(k) for k in decl.keys)
    if decl.value is not None:
        out += f" of {expr(decl.value)}"
    if decl.every is not None:
        out += f" every {duration(decl.every[0])}"
    if decl.keep is not None:
        out += f" keep {duration(decl.keep[0])}"
    if decl.limit is not None:
        out += f" limit {expr(decl.limit)}"
    return [_Line(out, decl.span.line)]


def duration(seconds: float) -> str:
    """Seconds in the largest unit that writes them whole: 3600 -> `1h`."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and float(seconds / size).is_integer():
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"


def _let_lines(let: ast.Let) -> list[_Line]:
    """One line, or a long list one item per line (each item keeps its comment)."""
    one = _Line(f"let {let.name.name} = {expr(let.value)}", let.span.line)
    if len(one.text) <= WIDTH or not isinstance(let.value, ast.ListExpr) or not let.value.items:
        return [one]
    lines = [_Line(f"let {let.name.name} = [", let.span.line)]
    lines += [_Line(f"{INDENT}{expr(item)},", item.span.line) for item in let.value.items]
    lines.append(_Line("]", let.value.span.end_line, inside=True))
    return lines


# ---- the formatter ----


def format_text(text: str, filename: str = "<string>") -> tuple[str | None, list[Diagnostic]]:
    """The canonical text, or None and the syntax errors when the text does not parse."""
    file = SourceFile(filename, text)
    module, diags = parse(file)
    if diags:
        return None, diags
    notes = [(c.line, c.text) for c in comments(text)]
    own_line = {ln: file.line_text(ln).lstrip().startswith("#") for ln, _ in notes}
    items = sorted(module.items, key=lambda i: i.span.start)
    blocks: list[tuple[ast.Item, list[_Line]]] = []
    for item in items:
        if isinstance(item, ast.Rule):
            lines = _rule_lines(item)
        elif isinstance(item, ast.StateDecl):
            lines = _state_lines(item)
        else:
            lines = _let_lines(item)
        blocks.append((item, lines))

    out: list[str] = []
    pending: list[tuple[int, str]] = []  # comments waiting for the next item
    notes_iter = iter(sorted(notes))
    note = next(notes_iter, None)
    previous: ast.Item | None = None
    for item, lines in blocks:
        end_line = item.span.end_line
        while note is not None and note[0] < item.span.line:
            pending.append((note[0], note[1]))
            note = next(notes_iter, None)
        after: list[tuple[int, str]] = []  # comments no code of the item follows
        while note is not None and note[0] <= end_line:
            if not _attach(lines, note, own_line[note[0]]):
                after.append(note)
            note = next(notes_iter, None)
        separate = previous is not None and not (
            isinstance(previous, ast.Let) and isinstance(item, ast.Let) and not pending
        )
        if separate:
            out.append("")
        _emit_comments(out, pending, item.span.line)
        out.extend(_render_item(item, lines))
        pending = after  # as if they came after the item, which they do once formatted
        previous = item
    while note is not None:
        pending.append((note[0], note[1]))
        note = next(notes_iter, None)
    if pending:
        if out:
            out.append("")
        _emit_comments(out, pending, None)
    return "\n".join(out).rstrip("\n") + "\n" if out else "", []


def _attach(lines: list[_Line], note: tuple[int, str], own_line: bool) -> bool:
    """A comment inside an item: one on a line of its own goes above the first line
    that comes after it in the input (False when none does: the item's lines were
    joined, and it goes after the item); one after code goes with the last line that
    began at or before it."""
    line, text = note
    if own_line:
        after = [ln for ln in lines if ln.source_line > line]
        if not after:
            return False
        min(after, key=lambda ln: ln.source_line).above.append(text)
        return True
    before = [(ln.source_line, i) for i, ln in enumerate(lines) if ln.source_line <= line]
    lines[max(before)[1] if before else 0].comments.append(text)
    return True


def _emit_comments(out: list[str], pending: list[tuple[int, str]], item_line: int | None) -> None:
    """Comment blocks as they were, separated by one blank line where the input had one."""
    for i, (line, text) in enumerate(pending):
        if i and line > pending[i - 1][0] + 1:
            out.append("")
        out.append(text)
    if pending and item_line is not None and item_line > pending[-1][0] + 1:
        out.append("")


def _render_item(item: ast.Item, lines: list[_Line]) -> list[str]:
    if isinstance(item, ast.Let):
        return [out for ln in lines for out in ln.render()]
    if item.name is None:
        one = " ".join(ln.text for ln in lines)
        notes = [c for ln in lines for c in ln.comments]
        if len(one) <= WIDTH and len(notes) <= 1 and all(ln.one_line for ln in lines):
            return _Line(one, lines[0].source_line, notes).render()
    first, rest = lines[0], lines[1:]
    return first.render() + [out for ln in rest for out in ln.render(INDENT)]
