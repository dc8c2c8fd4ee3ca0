"""The derived-facts table (runtime/facts.py) is what the catalog, the load and codegen use."""

from __future__ import annotations

import guardrails
from guardrails.check.catalog import DEFAULT_CATALOG
from guardrails.check.types import parse_type
from guardrails.runtime.facts import DERIVED, derived_sources, make_bindings


def test_every_hook_with_a_derived_fact_offers_its_source_and_types_it_as_the_table_does():
    for hook in DEFAULT_CATALOG:
        for name, fact in DERIVED.items():
            spec = hook.fact(name)
            if spec is None:
                continue
            assert spec.derived and spec.type == parse_type(fact.type), (hook.name, name)
            assert hook.fact(fact.source) is not None, (hook.name, name)


def test_a_rule_reading_a_derived_fact_reads_its_source_and_calls_its_binding():
    policy = guardrails.loads("rule t on generation_pre_call when tokens > 10 block\n")
    (program,) = policy.programs("generation_pre_call")
    assert {"tokens", "prompt"} <= program.reads
    assert "_derived_tokens(f, c)" in policy.generated_source
    assert derived_sources({"tokens", "model"}) == {"prompt"}
    assert set(make_bindings(None)) >= {d.binding for d in DERIVED.values()}
