"""A missing optional dependency is a GuardrailsError naming the extra to install (and
still an ImportError, for `pytest.importorskip` and `except ImportError`)."""

from __future__ import annotations

import importlib
import sys

import pytest

import guardrails
from guardrails.diagnostics import GuardrailsError
from guardrails.extras import MissingExtra, require


def without(monkeypatch, libraries, *ours):
    """As if `libraries` were not installed (None in sys.modules: importing them fails),
    with our modules `ours` imported afresh; all restored after the test."""
    for name in list(sys.modules):
        if name.partition(".")[0] in libraries:
            monkeypatch.delitem(sys.modules, name)
    for name in libraries:
        monkeypatch.setitem(sys.modules, name, None)
    for name in ours:
        monkeypatch.delitem(sys.modules, name, raising=False)
        parent, _, child = name.rpartition(".")
        monkeypatch.delattr(importlib.import_module(parent), child, raising=False)


@pytest.mark.parametrize(
    ("module", "library", "extra"),
    [
        ("guardrails.adapters.otel", "opentelemetry", "otel"),
        ("guardrails.adapters.redis_store", "redis", "redis"),
        ("guardrails.adapters.haystack", "haystack", "haystack"),
        ("guardrails.testing.haystack", "haystack", "haystack"),
        ("guardrails.testing.canned", "mellea", "mellea"),
    ],
)
def test_importing_an_optional_part_without_its_library_names_the_extra(
    monkeypatch, module, library, extra
):
    without(monkeypatch, (library,), module)
    with pytest.raises(MissingExtra) as caught:
        importlib.import_module(module)
    assert isinstance(caught.value, GuardrailsError) and isinstance(caught.value, ImportError)
    assert f"needs the '{extra}' extra ({library}" in str(caught.value)
    assert str(caught.value).endswith(f"pip install 'guardrails-rules[{extra}]'")
    assert caught.value.extra == extra


def test_the_policy_s_optional_features_name_their_extra(monkeypatch, tmp_path):
    (tmp_path / "r.rules").write_text('rule r on tool_pre_invoke when tool.name == "x" block\n')
    without(monkeypatch, ("redis", "haystack"), "guardrails.adapters.redis_store",
            "guardrails.adapters.haystack")  # fmt: skip
    with pytest.raises(
        MissingExtra,
        match=r"state redis://\.\.\. needs the 'redis' extra \(redis is not installed\): pip install 'guardrails-rules\[redis\]'",
    ):
        guardrails.load(tmp_path / "r.rules", state="redis://localhost:1")
    policy = guardrails.load(tmp_path / "r.rules")
    with pytest.raises(MissingExtra, match=r"policy.haystack_hooks\(\) needs the 'haystack' extra"):
        policy.haystack_hooks()


def test_require_looks_modules_up_without_importing_them():
    require("test", "x", "json", "pytest")
    with pytest.raises(
        MissingExtra, match=r"^x needs the 'test' extra \(no_such_module_zz is not installed\)"
    ):
        require("test", "x", "json", "no_such_module_zz")


def test_a_judge_with_run_but_no_haystack_names_the_extra(monkeypatch, tmp_path):
    (tmp_path / "r.rules").write_text('rule r on tool_pre_invoke when tool.name == "x" block\n')
    without(monkeypatch, ("haystack",))

    class Generator:
        def run(self, messages):
            return {"replies": []}

    with pytest.raises(
        MissingExtra,
        match=r"judge=Generator \(a Haystack chat generator\) needs the 'haystack' extra",
    ):
        guardrails.load(tmp_path / "r.rules", judge=Generator())


def test_a_library_of_another_version_is_named_with_the_import_error():
    from guardrails.extras import missing_extra

    err = ImportError("cannot import name 'ToolCall' from 'haystack.dataclasses'")
    assert str(missing_extra("haystack", "the Haystack host", err)) == (
        "the Haystack host needs the 'haystack' extra (cannot import name 'ToolCall' from "
        "'haystack.dataclasses'): pip install 'guardrails-rules[haystack]'"
    )
