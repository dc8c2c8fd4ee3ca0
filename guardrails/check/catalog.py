"""The hook catalog: per hook, its payload fields, which are writable, and its facts.

A rule is checked against the *facts* of its hooks: the payload's own fields, the
normalized facts (`prompt`, `tokens`, `tool.name`, ...) and the context
facts every hook has. The language's facts live in `hookdefs`. This module knows no
host: each host's hooks come as a table (`HostHooks`) registered with `add_hosts`,
which is how `guardrails.policy` puts the tables of `guardrails.hosts` into
`DEFAULT_CATALOG`. Users add their own hooks with `register_hook` (a payload model's
pydantic fields are read by duck typing, so this module imports neither pydantic nor
any host library).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import types as pytypes
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..runtime.facts import DERIVED
from . import hookdefs
from .types import ANY, BOOL, FLOAT, INT, LIST, MAP, STR, Type, list_of, parse_type


@dataclass(frozen=True, slots=True)
class FactSpec:
    """One fact a rule can read: a dotted path, its type, and whether `set` may write it."""

    path: str
    type: Type
    writable: bool = False
    doc: str = ""
    kind: str = "field"  # field | normalized | context
    derived: bool = False


@dataclass(frozen=True, slots=True)
class HookSpec:
    name: str
    origin: str  # mellea | cpex | mellea+cpex | haystack | custom
    fields: Mapping[str, Type]
    writable_fields: frozenset[str]
    facts: Mapping[str, FactSpec] = field(repr=False)
    in_cpex: bool = True  # a cpex plugin manager fires it (not only an agent framework)
    agent_exit: bool = False  # an agent is about to stop here: `continue` may refuse it
    # the roles a rule may add to the hook's `messages` (append, prepend); empty: the
    # host takes no changed message list back here
    message_roles: tuple[str, ...] = ()

    def fact(self, path: str) -> FactSpec | None:
        return self.facts.get(path)

    @property
    def writable_facts(self) -> list[str]:
        return sorted(p for p, f in self.facts.items() if f.writable)


def _parse_entry(entry: str) -> tuple[str, Type, bool]:
    name, _, type_text = entry.partition(":")
    type_text = type_text.strip()
    writable = type_text.endswith("!")
    return name.strip(), parse_type(type_text.removesuffix("!")), writable


class HostHooks(Protocol):
    """A host's hook table, as `guardrails.hosts.HostTable` holds it."""

    @property
    def name(self) -> str: ...
    @property
    def hooks(self) -> Mapping[str, tuple[str, ...]]: ...
    @property
    def base_fields(self) -> tuple[str, ...]: ...
    @property
    def facts(self) -> Mapping[str, tuple[str, ...]]: ...
    @property
    def in_cpex(self) -> bool: ...
    @property
    def agent_exits(self) -> frozenset[str]: ...
    @property
    def messages(self) -> Mapping[str, tuple[str, ...]]: ...


def _build_hook(
    name: str,
    origin: str,
    field_entries: Iterable[str],
    normalized: Iterable[str] = (),
    *,
    in_cpex: bool = True,
    agent_exit: bool = False,
    message_roles: tuple[str, ...] = (),
) -> HookSpec:
    fields: dict[str, Type] = {}
    writable: set[str] = set()
    for entry in field_entries:
        fname, ftype, fwritable = _parse_entry(entry)
        fields[fname] = ftype
        if fwritable:
            writable.add(fname)
    facts: dict[str, FactSpec] = {}
    for fname, ftype in fields.items():
        facts[fname] = FactSpec(fname, ftype, fname in writable, "payload field", "field")
    for entry in normalized:
        fname, ftype, fwritable = _parse_entry(entry)
        derived = DERIVED.get(fname)  # computed by the runtime: its type is the table's
        facts[fname] = FactSpec(
            fname,
            ftype if derived is None else parse_type(derived.type),
            fwritable,
            hookdefs.FACT_DOCS.get(fname, ""),
            "normalized",
            derived is not None,
        )
    for entry in hookdefs.CONTEXT_FACTS:
        fname, ftype, _ = _parse_entry(entry)
        facts[fname] = FactSpec(fname, ftype, False, hookdefs.FACT_DOCS.get(fname, ""), "context")
    return HookSpec(
        name, origin, fields, frozenset(writable), facts, in_cpex, agent_exit, message_roles
    )


def _host_hooks(tables: Iterable[HostHooks]) -> dict[str, HookSpec]:
    """One spec per hook: a hook two hosts fire (Mellea's and cpex's `tool_pre_invoke`)
    has the fields of both, in table order, and the origin `mellea+cpex`."""
    tables = list(tables)
    names = sorted({name for table in tables for name in table.hooks})
    hooks: dict[str, HookSpec] = {}
    for name in names:
        mine = [table for table in tables if name in table.hooks]
        entries = [e for table in mine for e in (*table.base_fields, *table.hooks[name])]
        normalized = [
            *hookdefs.NORMALIZED_FACTS.get(name, ()),
            *(e for table in mine for e in table.facts.get(name, ())),
        ]
        hooks[name] = _build_hook(
            name,
            "+".join(table.name for table in mine),
            entries,
            normalized,
            in_cpex=any(table.in_cpex for table in mine),
            agent_exit=any(name in table.agent_exits for table in mine),
            message_roles=next((t.messages[name] for t in mine if name in t.messages), ()),
        )
    return hooks


def _type_from_annotation(annotation: Any) -> Type:
    """Best-effort map of a Python annotation onto a DSL type (unknown shapes are `any`)."""
    simple = {int: INT, float: FLOAT, str: STR, bool: BOOL, dict: MAP, list: LIST}
    if annotation in simple:
        return simple[annotation]
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, pytypes.UnionType):
        return _type_from_annotation(args[0]) if len(args) == 1 else ANY
    if origin is dict or origin is typing.Dict:  # noqa: UP006
        return MAP
    if origin in (list, tuple) or origin is typing.List:  # noqa: UP006
        return list_of(_type_from_annotation(args[0])) if args else LIST
    return ANY


class Catalog:
    """Hooks by name. `Catalog.builtin()` is the registered hosts' hooks (Mellea's, cpex's
    and Haystack's once `guardrails` is imported); copy to extend."""

    def __init__(self, hooks: Mapping[str, HookSpec] | None = None) -> None:
        self._hooks: dict[str, HookSpec] = dict(hooks or {})
        self._digest: str | None = None

    @classmethod
    def builtin(cls) -> Catalog:
        return cls(_host_hooks(_HOSTS))

    def copy(self) -> Catalog:
        return Catalog(self._hooks)

    def digest(self) -> str:
        """Equal for catalogs with equal hooks, in every process (it keys the ruleset
        cache); worked out once until a hook is registered."""
        if self._digest is None:
            self._digest = hashlib.sha256(canonical(list(self)).encode()).hexdigest()
        return self._digest

    def __contains__(self, name: object) -> bool:
        return name in self._hooks

    def __iter__(self) -> typing.Iterator[HookSpec]:
        return iter(sorted(self._hooks.values(), key=lambda h: h.name))

    def __len__(self) -> int:
        return len(self._hooks)

    def get(self, name: str) -> HookSpec | None:
        return self._hooks.get(name)

    def __getitem__(self, name: str) -> HookSpec:
        return self._hooks[name]

    def unknown_facts(self, hook: str, facts: Mapping[str, Any]) -> list[str]:
        """Messages for a test payload's top-level names that are not facts of `hook`
        (a misspelt fact is never read: a false pass); none for a hook not here."""
        spec = self._hooks.get(hook)
        if spec is None:
            return []
        known = {path.split(".")[0] for path in spec.facts} | set(spec.fields) | {"request_id"}
        out = []
        for name in sorted(set(facts) - known):
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            out.append(f"{name!r} is not a fact of {hook}{hint}")
        return out

    def in_cpex(self, name: str) -> bool:
        """Whether a cpex host can fire hook `name`: an agent framework's hook points
        (Haystack's) are fired by the agent, never by a cpex manager (unknown names:
        assume it can)."""
        spec = self._hooks.get(name)
        return spec is None or spec.in_cpex

    def suggest(self, name: str) -> str | None:
        folded = name.lower().replace("-", "_")  # `GENERATION_PRE_CALL`, `tool-pre-invoke`
        if folded in self._hooks:
            return folded
        close = difflib.get_close_matches(name, list(self._hooks), n=1, cutoff=0.6)
        return close[0] if close else None

    def register_hook(
        self,
        name: str,
        *,
        payload: Any = None,
        fields: Mapping[str, str] | None = None,
        writable: Iterable[str] = (),
        facts: Mapping[str, str] | None = None,
        replace: bool = False,
    ) -> HookSpec:
        """Add a custom hook.

        `payload` is a pydantic model class whose fields become facts; `fields` adds or
        overrides field types in the catalog notation (`{"score": "float"}`); `writable`
        names the fields `set`/`redact` may write; `facts` adds normalized facts
        (`{"prompt": "str", "tokens": "int"}`).
        """
        if not name.isidentifier():
            raise ValueError(f"hook name {name!r} is not an identifier usable in a rules file")
        if name in self._hooks and not replace:
            raise ValueError(f"hook {name!r} is already registered; pass replace=True")
        writable_set = set(writable)
        entries: list[str] = []
        types: dict[str, Type] = {}
        if payload is not None:
            model_fields = getattr(payload, "model_fields", None)
            if not isinstance(model_fields, Mapping):
                raise TypeError("payload must be a pydantic model class")
            for fname, finfo in model_fields.items():
                types[fname] = _type_from_annotation(getattr(finfo, "annotation", Any))
        for fname, ftext in (fields or {}).items():
            types[fname] = parse_type(ftext)
        unknown = writable_set - set(types)
        if unknown:
            raise ValueError(f"writable fields not among the hook's fields: {sorted(unknown)}")
        for fname, ftype in types.items():
            entries.append(f"{fname}: {ftype}{'!' if fname in writable_set else ''}")
        normalized = [f"{k}: {v}" for k, v in (facts or {}).items()]
        spec = _build_hook(name, "custom", entries, normalized)
        self._hooks[name] = spec
        self._digest = None
        return spec


_HOSTS: list[HostHooks] = []  # registered host tables, in registration order
DEFAULT_CATALOG = Catalog()


def add_hosts(tables: Iterable[HostHooks]) -> None:
    """Register hosts' hook tables: into `DEFAULT_CATALOG` and every later `builtin()`."""
    _HOSTS.extend(tables)
    DEFAULT_CATALOG._hooks.update(_host_hooks(_HOSTS))


def register_hook(
    name: str,
    *,
    payload: Any = None,
    fields: Mapping[str, str] | None = None,
    writable: Iterable[str] = (),
    facts: Mapping[str, str] | None = None,
    replace: bool = False,
) -> HookSpec:
    """Register a custom hook in the process-wide default catalog used by `load()`."""
    return DEFAULT_CATALOG.register_hook(
        name, payload=payload, fields=fields, writable=writable, facts=facts, replace=replace
    )


def canonical(value: object) -> str:
    """A text that is the same in every process for equal values: sets sorted (their
    order follows the per-process string hash), dataclasses field by field."""
    if isinstance(value, set | frozenset):
        return "{" + ",".join(sorted(canonical(v) for v in value)) + "}"
    if isinstance(value, Mapping):
        return (
            "{" + ",".join(sorted(f"{canonical(k)}:{canonical(v)}" for k, v in value.items())) + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        inner = ",".join(
            f"{f.name}={canonical(getattr(value, f.name))}" for f in dataclasses.fields(value)
        )
        return f"{type(value).__name__}({inner})"
    return repr(value)
