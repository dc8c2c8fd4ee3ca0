"""Where a fact's value may have come from, for the decision log's masking.

A reason part `{agent_id}` reads a kept fact, but `set agent_id = system_prompt` in an
earlier rule (and `set system_prompt = prompt` before it) may have filled it with the
prompt; `append {"role": "system", "text": "{prompt}"} to messages` puts the prompt in
`messages`. The log withholds a part whose value may be private text, so a part is taken
to read, besides its own paths, every path a `set` or message edit of the ruleset wrote
into them from, transitively. Rule order and hooks are ignored: a copy that could not
have run first only makes the log withhold more than it had to.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..check import ir

Path = tuple[object, ...]


def fact_paths(node: object) -> set[Path]:
    """The fact paths an expression reads."""
    found: set[Path] = set()
    todo = [node]
    while todo:
        item = todo.pop()
        if isinstance(item, ir.FactRef):
            found.add(tuple(item.path))
        else:
            todo.extend(ir.children(item))  # type: ignore[arg-type]
    return found


def copies(rules: Iterable[ir.CheckedRule]) -> tuple[tuple[Path, frozenset[Path]], ...]:
    """(written path, the fact paths its value read) of every `set` and message edit."""
    out = []
    for rule in rules:
        for action in rule.actions:
            if isinstance(action, ir.SetAction | ir.MessageEdit):
                sources = fact_paths(action.value)
                if sources:
                    out.append((tuple(action.path), frozenset(sources)))
    return tuple(out)


def widened(
    paths: Iterable[Path], written: tuple[tuple[Path, frozenset[Path]], ...]
) -> tuple[Path, ...]:
    """`paths` (first, in their order) and every path a copy into (or inside, or around)
    one of them read."""
    given = tuple(dict.fromkeys(paths))
    found = set(given)
    todo = list(found)
    while todo and written:
        path = todo.pop()
        for target, sources in written:
            n = min(len(path), len(target))
            if path[:n] == target[:n]:
                todo.extend(sources - found)
                found |= sources
    return given + tuple(sorted(found - set(given), key=repr))
