"""A Pygments lexer for `.rules` files (registered as the `rules` lexer by entry point).

The CLI uses it to colour the source line of a diagnostic on a terminal; editors and
documentation tools that use Pygments find it by name or by the `.rules` extension.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

from ..check.builtins import BUILTINS
from ..check.detectors import DETECTORS
from ..check.detectors import OPERATORS as REDACTION_OPERATORS

KEYWORDS = (
    "rule", "on", "mode", "priority", "on_error", "when", "unless", "let", "with", "code",
    "counter", "streak", "per", "of", "every", "keep", "limit", "to",
)  # fmt: skip
ACTIONS = (
    "block",
    "warn",
    "set",
    "redact",
    "continue",
    "add",
    "track",
    "append",
    "prepend",
    "replace",
)
# the word operators are the registry's (check/builtins.py), so a new one is coloured;
# an entry with a rendering of its own (`neg`) is not written as its name
_WORDS = sorted(
    {w for e in BUILTINS.operators.values() if e.render is None for w in e.name.split()} - {"not"}
)
OPERATORS = ("and", "or", "not", *(w for w in _WORDS if w.isalpha()))
QUANTIFIERS = ("any", "all", "count", "filter")  # grammar: quantifier
CONSTANTS = ("true", "false", "null")


class RulesLexer(RegexLexer):
    name = "guardrails rules"
    aliases = ["rules", "guardrails"]  # noqa: RUF012  (Pygments' class-attribute API)
    filenames = ["*.rules"]  # noqa: RUF012

    tokens = {  # noqa: RUF012
        "root": [
            (r"\s+", Whitespace),
            (r"#.*?$", Comment.Single),
            # a reason (the string after an action word) may show `{fact}` paths
            (
                r'(block|warn|continue)(\s+)(")',
                bygroups(Keyword.Reserved, Whitespace, String.Double),
                "reason",
            ),
            # (raw strings: `\\.` is one backslash and the character it escapes)
            (r'"(\\.|[^"\\\n])*"', String.Double),
            (r"'(\\.|[^'\\\n])*'", String.Single),
            (r"/(\\.|[^/\\\n])+/[a-z]*", String.Regex),
            (
                r"(rule)(\s+)([A-Za-z_]\w*)",
                bygroups(Keyword.Declaration, Whitespace, Name.Function),
            ),
            (r"(let)(\s+)([A-Za-z_]\w*)", bygroups(Keyword.Declaration, Whitespace, Name.Variable)),
            (
                r"(counter|streak)(\s+)([A-Za-z_]\w*)",
                bygroups(Keyword.Declaration, Whitespace, Name.Variable),
            ),
            # a circuit breaker: `breaker 5 in 1m cooldown 30s`, `breaker off`
            (r"(breaker)(\s+)(off)\b", bygroups(Keyword, Whitespace, Keyword.Constant)),
            (words(("breaker", "cooldown"), suffix=r"\b"), Keyword),
            (r"\d+(ms|s|m|h|d)\b", Number.Integer),  # a duration: `every 1h`
            # a quantifier: `any m in ...`, `count(m in ...)`
            (words(QUANTIFIERS, suffix=r"(?=\s*\(?\s*[A-Za-z_]\w*\s+in\b)"), Keyword),
            # `redact x pii with mask`: a detector named without a call, an operator
            (
                r"(with)(\s+)(" + "|".join(REDACTION_OPERATORS) + r")\b",
                bygroups(Keyword, Whitespace, Keyword.Pseudo),
            ),
            (words(tuple(DETECTORS), prefix=r"(?<![.\w])", suffix=r"\b"), Name.Builtin),
            (words(KEYWORDS, suffix=r"\b"), Keyword),
            (words(ACTIONS, suffix=r"\b"), Keyword.Reserved),
            (words(OPERATORS, suffix=r"\b"), Operator.Word),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (r"\d+\.\d+([eE][+-]?\d+)?|\d+[eE][+-]?\d+", Number.Float),
            (r"\d+", Number.Integer),
            (r"[A-Za-z_]\w*(?=\s*\()", Name.Builtin),
            (r"[A-Za-z_]\w*", Name),
            (r"==|!=|<=|>=|[<>=+\-*/]", Operator),
            (r"[()\[\],.{}:]", Punctuation),
            (r".", Text),
        ],
        "reason": [
            (r"\{\{|\}\}|\\.", String.Escape),
            (r"\{[^{}\"\n]*\}", String.Interpol),
            (r'"', String.Double, "#pop"),
            (r"\n", Whitespace, "#pop"),
            (r'[^"\\{}\n]+|[{}]', String.Double),
        ],
    }


def highlight_line(text: str) -> str:
    """One source line in terminal colours."""
    from pygments import highlight
    from pygments.formatters import TerminalFormatter

    colored: str = highlight(text, RulesLexer(), TerminalFormatter())
    return colored.rstrip("\n")
