"""The public API contract: load/loads/check, Policy, RulesError, register_hook."""

from __future__ import annotations

from pathlib import Path

import pytest

import guardrails


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_load_directory_in_sorted_path_order_with_shared_lets(tmp_path):
    write(
        tmp_path,
        "b/second.rules",
        "rule second on tool_pre_invoke when tool.name in blocked block\n",
    )
    write(
        tmp_path,
        "a_first.rules",
        "let blocked = ['shell']\nrule first on tool_pre_invoke priority 1 warn\n",
    )
    write(tmp_path, "c.rules", "on tool_pre_invoke when tool.name == 'x' block\n")
    write(tmp_path, "notes.txt", "not a rules file")
    policy = guardrails.load(tmp_path)
    assert [r.id for r in policy.rules] == ["first", "second", "c:1"]
    assert policy.rules[1].file == str(tmp_path / "b" / "second.rules")
    assert policy.evaluate("tool_pre_invoke", {"tool": {"name": "shell"}}).blocked_by == "second"
    assert guardrails.load(str(tmp_path)).ruleset_hash == policy.ruleset_hash


def test_load_single_file_and_unnamed_rule_id(tmp_path):
    path = write(tmp_path, "budget.rules", "\n\non generation_pre_call when tokens > 4000 block\n")
    policy = guardrails.load(path)
    (rule,) = policy.rules
    assert rule.id == "budget:3"
    assert (rule.file, rule.line, rule.column) == (str(path), 3, 1)
    assert rule.location == f"{path}:3"
    v = policy.evaluate("generation_pre_call", {"prompt": "x" * 16004})
    assert (v.outcome, v.blocked_by) == ("block", "budget:3")


def test_ruleset_hash_is_stable_and_content_sensitive(tmp_path):
    write(tmp_path, "r.rules", "on generation_pre_call when tokens > 1 block\n")
    h1 = guardrails.load(tmp_path).ruleset_hash
    assert guardrails.load(tmp_path).ruleset_hash == h1
    write(tmp_path, "r.rules", "on generation_pre_call when tokens > 2 block\n")
    assert guardrails.load(tmp_path).ruleset_hash != h1
    assert len(h1) == 64


def test_load_raises_rules_error_with_diagnostics(tmp_path):
    path = write(tmp_path, "bad.rules", "on generation_pre_call when tokens > 'x' block\n")
    with pytest.raises(guardrails.RulesError) as info:
        guardrails.load(path)
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.file, diag.line, diag.column) == ("GR0210", str(path), 1, 36)
    assert diag.severity is guardrails.Severity.ERROR
    assert isinstance(info.value, guardrails.GuardrailsError)


def test_check_never_raises_and_returns_warnings(tmp_path):
    path = write(tmp_path, "w.rules", "let unused = 1\non generation_pre_call block\n")
    (diag,) = guardrails.check(path)
    assert (diag.code, diag.severity) == ("GR0300", guardrails.Severity.WARNING)
    both = guardrails.check([path, tmp_path / "missing.rules"])
    assert [d.code for d in both] == ["GR0104", "GR0300"]  # sorted by file, then position


def test_let_used_only_through_another_let_is_not_unused():
    policy = guardrails.loads(
        "let base = ['a']\nlet alias = base\non tool_pre_invoke when tool.name in alias block\n"
    )
    assert policy.warnings == ()


def test_register_custom_hook_with_payload_model():
    pydantic = pytest.importorskip("pydantic")

    class ScorePayload(pydantic.BaseModel):
        score: float
        label: str | None = None
        tags: list[str] = []
        extra: dict[str, int] = {}

    catalog = guardrails.Catalog.builtin()
    spec = catalog.register_hook(
        "moderation_result", payload=ScorePayload, writable=["label"], facts={"output": "str"}
    )
    assert str(spec.facts["score"].type) == "float"
    assert str(spec.facts["tags"].type) == "list[str]"
    assert spec.facts["label"].writable and not spec.facts["score"].writable
    policy = guardrails.loads(
        "rule r on moderation_result when score > 0.8 and 'nsfw' in tags block\n"
        "rule t on moderation_result mode transform when score > 0.5 set label = 'review'\n",
        catalog=catalog,
    )
    assert policy.evaluate("moderation_result", {"score": 0.9, "tags": ["nsfw"]}).outcome == "block"
    v = policy.evaluate("moderation_result", {"score": 0.6, "tags": []})
    assert v.payload["label"] == "review"
    with pytest.raises(guardrails.RulesError, match="GR0210"):
        guardrails.loads("on moderation_result when score > 'x' block", catalog=catalog)
    with pytest.raises(guardrails.RulesError, match="GR0233"):
        guardrails.loads(
            "rule r on moderation_result mode transform set score = 1.0", catalog=catalog
        )


def test_register_hook_validation():
    catalog = guardrails.Catalog.builtin()
    with pytest.raises(ValueError, match="already registered"):
        catalog.register_hook("tool_pre_invoke", fields={"x": "int"})
    with pytest.raises(ValueError, match="not an identifier"):
        catalog.register_hook("cmf.llm_input", fields={"x": "int"})
    with pytest.raises(ValueError, match="writable fields"):
        catalog.register_hook("h", fields={"x": "int"}, writable=["y"])
    with pytest.raises(TypeError):
        catalog.register_hook("h2", payload=object())
    assert "h" not in guardrails.Catalog.builtin()


def test_default_catalog_registration_is_used_by_load():
    guardrails.register_hook("test_api_custom_hook", fields={"level": "int"}, replace=True)
    policy = guardrails.loads("on test_api_custom_hook when level > 3 block")
    assert policy.evaluate("test_api_custom_hook", {"level": 4}).outcome == "block"


def test_policy_exposes_hooks_and_repr():
    policy = guardrails.loads(
        "rule a on generation_pre_call block\nrule b on tool_pre_invoke, generation_pre_call warn\n"
    )
    assert policy.hooks == ("generation_pre_call", "tool_pre_invoke")
    assert [p.id for p in policy.programs("generation_pre_call")] == ["a", "b"]
    assert repr(policy).startswith("<Policy 2 rules, ")


def test_public_names():
    names = {n for n in dir(guardrails) if not n.startswith("_")}
    for required in ("load", "loads", "check", "Policy", "Verdict", "RulesError", "Diagnostic"):
        assert required in names


def test_haystack_hooks_without_the_extra_names_the_extra(monkeypatch):
    """Without haystack-ai, the error says which extra to install, not which module
    deep inside it was missing."""
    import sys

    for name in [m for m in sys.modules if m == "haystack" or m.startswith("haystack.")]:
        monkeypatch.setitem(sys.modules, name, None)  # importing any of it fails
    monkeypatch.setitem(sys.modules, "haystack", None)
    monkeypatch.delitem(sys.modules, "guardrails.adapters.haystack", raising=False)
    policy = guardrails.loads("on before_tool when tool.name == 'x' block")
    with pytest.raises(guardrails.GuardrailsError) as err:
        policy.haystack_hooks()
    assert "pip install 'guardrails-rules[haystack]'" in str(err.value)
