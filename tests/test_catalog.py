"""The hook catalog, and drift checks against the real Mellea and cpex payload classes."""

from __future__ import annotations

import pytest

import guardrails
from guardrails import hosts
from guardrails.check.catalog import DEFAULT_CATALOG, _type_from_annotation


def test_all_27_mellea_hooks_and_cpex_builtins_are_known():
    assert len(hosts.mellea.MELLEA_HOOKS) == 27
    for name in [*hosts.mellea.MELLEA_HOOKS, *hosts.cpex.CPEX_HOOKS]:
        assert name in DEFAULT_CATALOG


def test_normalized_and_context_facts():
    pre = DEFAULT_CATALOG["generation_pre_call"]
    assert str(pre.facts["prompt"].type) == "str"
    assert pre.facts["tokens"].derived
    assert pre.facts["model_options"].writable
    assert not pre.facts["model"].writable
    tool = DEFAULT_CATALOG["tool_pre_invoke"]
    assert tool.facts["tool.args"].writable and tool.facts["tool.name"].writable
    assert not DEFAULT_CATALOG["tool_post_invoke"].facts["tool.name"].writable
    assert tool.origin == "mellea+cpex"
    assert DEFAULT_CATALOG["tool_post_invoke"].facts["tool.output"].writable
    for hook in DEFAULT_CATALOG:
        for fact in ("user", "tenant", "server", "request_id"):
            assert hook.facts[fact].kind == "context", (hook.name, fact)


def test_observe_only_hooks_have_no_writable_payload_fields():
    assert DEFAULT_CATALOG["generation_post_call"].writable_fields == frozenset()
    assert DEFAULT_CATALOG["generation_post_call"].writable_facts == []


def _concrete(annotation: object) -> str | None:
    t = _type_from_annotation(annotation)
    return None if t.is_any else t.kind


def _assert_types_agree(hook: str, payload_cls: type) -> None:
    """Where the real annotation is a concrete type, the catalog says the same."""
    spec = DEFAULT_CATALOG[hook]
    for name, info in payload_cls.model_fields.items():  # type: ignore[attr-defined]
        kind = _concrete(info.annotation)
        if kind is not None and spec.fields[name].kind != "any":
            assert spec.fields[name].kind == kind, (hook, name)


def test_catalog_matches_mellea_payload_classes_and_policy_table():
    pytest.importorskip("mellea")
    from mellea.plugins.policies import MELLEA_HOOK_PAYLOAD_POLICIES
    from mellea.plugins.types import _build_hook_registry

    registry = _build_hook_registry()
    assert set(registry) == set(hosts.mellea.MELLEA_HOOKS)
    base = {e.split(":")[0] for e in hosts.mellea.MELLEA_BASE_FIELDS}
    for hook, (payload_cls, _) in registry.items():
        ours = {e.split(":")[0]: e for e in hosts.mellea.MELLEA_HOOKS[hook]}
        assert set(payload_cls.model_fields) == base | set(ours), hook
        writable = {n for n, e in ours.items() if e.endswith("!")}
        policy = MELLEA_HOOK_PAYLOAD_POLICIES.get(hook)
        assert writable == set(policy.writable_fields if policy else ()), hook
        _assert_types_agree(hook, payload_cls)


def test_catalog_matches_cpex_builtin_payload_classes():
    import cpex.framework.hooks.identity  # noqa: F401  (registers identity hooks)
    from cpex.framework import get_hook_registry

    registry = get_hook_registry()
    for hook, entries in hosts.cpex.CPEX_HOOKS.items():
        payload_cls = registry.get_payload_type(hook)
        assert payload_cls is not None, hook
        ours = {e.split(":")[0] for e in entries}
        assert set(payload_cls.model_fields) == ours, hook
        _assert_types_agree(hook, payload_cls)


def test_catalog_copy_is_independent():
    a = guardrails.Catalog.builtin()
    b = a.copy()
    b.register_hook("only_in_b", fields={"x": "int"})
    assert "only_in_b" in b and "only_in_b" not in a
