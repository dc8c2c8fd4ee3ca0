"""The shape of one host's hook table (plain data, standard library only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HostTable:
    """The hooks one host fires.

    `hooks`: hook -> payload fields, after `base_fields` (fields every hook of the host
    has). `facts`: hook -> facts the host's adapter gives besides the payload fields and
    the language's normalized facts. `in_cpex`: whether a cpex plugin manager fires
    these hooks (so cpex plugins serve them). `agent_exits`: hooks where an agent is
    about to stop, where `continue` (refuse the exit) means something. `messages`:
    hook -> the roles a rule may give a message it adds to the hook's `messages` (the
    hooks where the host takes a changed message list back; docs/language.md#messages).
    """

    name: str
    hooks: Mapping[str, tuple[str, ...]]
    base_fields: tuple[str, ...] = ()
    facts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    in_cpex: bool = True
    agent_exits: frozenset[str] = frozenset()
    messages: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
