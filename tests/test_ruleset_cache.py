"""The compiled-ruleset cache (compile/cache.py): a hit links exactly what a cold load
compiles, every input it depends on changes its key, and an entry that anyone else
could have written, or that holds anything but our data, is never used."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import guardrails
from guardrails.check.catalog import DEFAULT_CATALOG
from guardrails.compile import cache as rulecache

ROOT = Path(__file__).resolve().parents[1]


def _shape(policy: guardrails.Policy) -> list[tuple[object, ...]]:
    """Everything a hook call reads from a version, rule by rule."""
    compiled = policy.compiled
    rows: list[tuple[object, ...]] = []
    for hook, programs in sorted(compiled.by_hook.items()):
        for p in programs:
            rows.append((hook, p.id, p.index, p.file, p.line, p.column, p.hooks, p.mode,
                         p.on_error, p.priority, re.sub(" at 0x[0-9a-f]+", "", repr(p.actions)), p.reads, p.index_key,
                         p.states, p.records, p.host_calls, p.breaker, p.digest,
                         p.fn.__code__.co_code, p.fn.__defaults__))  # fmt: skip
        plan = compiled.runners[hook].plan
        if plan is not None:
            rows.append((hook, [(u.spec, u.read, u.fields, u.key.__name__) for u in plan.uses],
                         [(r.rule_id, r.states, r.fn.__name__) for r in plan.recordings]))  # fmt: skip
    return rows


@pytest.mark.parametrize("paths", [["rules"], ["examples/policies"]])
def test_a_hit_links_exactly_what_a_cold_load_compiles(tmp_path, monkeypatch, paths):
    monkeypatch.chdir(ROOT)
    cold = guardrails.load(paths, cache=False)
    first = guardrails.load(paths, cache=tmp_path)
    hit = guardrails.load(paths, cache=tmp_path)
    assert not cold.compiled.from_cache and not first.compiled.from_cache
    assert hit.compiled.from_cache and hit.compiled.cache_entry == first.compiled.cache_entry
    assert _shape(hit) == _shape(cold)
    assert hit.ruleset_hash == cold.ruleset_hash
    assert hit.generated_source == cold.generated_source
    assert [(d.code, d.message, d.file, d.line) for d in hit.compiled.warnings] == [
        (d.code, d.message, d.file, d.line) for d in cold.compiled.warnings
    ]
    # the checked IR (`--explain`) is worked out again on first use
    assert dict(hit.checked_rules).keys() == dict(cold.checked_rules).keys()


def test_a_cached_version_decides_as_a_cold_one(tmp_path):
    text = (
        "".join(
            f'rule r{i} on tool_pre_invoke priority {i % 3} when tool.name == "t{i % 7}" and '
            f'tool.args.q contains "w{i}" block "no {{tool.name}} {i}"\n'
            for i in range(60)
        )
        + 'rule s on tool_pre_invoke mode transform when tool.args.q matches /secret\\d+/i set tool.args.q = "x"\n'
    )
    cold = guardrails.loads(text, "c.rules", cache=False)
    guardrails.loads(text, "c.rules", cache=tmp_path)
    hit = guardrails.loads(text, "c.rules", cache=tmp_path)
    assert hit.compiled.from_cache
    for name in ("t0", "t3", "t6", "zz"):
        for q in ("w0", "w3 w10", "SECRET42", "", None):
            facts = {"tool": {"name": name, "args": {"q": q}}}
            a, b = cold.evaluate("tool_pre_invoke", facts), hit.evaluate("tool_pre_invoke", facts)
            assert (a.outcome, a.blocked_by, a.reason, a.payload) == (
                b.outcome, b.blocked_by, b.reason, b.payload
            )  # fmt: skip


def _hit(text: str, cache: Path, filename: str = "k.rules", **options: object) -> bool:
    return guardrails.loads(text, filename, cache=cache, **options).compiled.from_cache


def test_every_input_is_in_the_key(tmp_path):
    text = 'on tool_pre_invoke when tool.name == "a" block\n'
    assert not _hit(text, tmp_path) and _hit(text, tmp_path)
    assert not _hit(text.replace('"a"', '"b"'), tmp_path)  # the text
    assert not _hit(text, tmp_path, "other.rules")  # the display path (in records, errors)
    assert not _hit(text, tmp_path, max_match_chars=10)
    catalog = DEFAULT_CATALOG.copy()
    catalog.register_hook("my_hook", fields={"x": "str"})
    assert not _hit(text, tmp_path, catalog=catalog)

    def lookup(name: str) -> bool:  # fmt: skip
        return True

    assert not _hit(text, tmp_path, functions={"reputation": lookup})
    assert _hit(text, tmp_path, functions={"reputation": lookup})

    def lookup2(name: int) -> bool:  # fmt: skip
        return True

    assert not _hit(text, tmp_path, functions={"reputation": lookup2})  # another signature


def test_a_key_holds_every_process_alike(tmp_path):
    """Set orders follow the per-process string hash: the key must not."""
    code = (
        "from guardrails.check.catalog import DEFAULT_CATALOG\n"
        "from guardrails.compile.cache import key\n"
        "from guardrails.source import SourceFile\n"
        "print(key([SourceFile('a.rules', 'on tool_pre_invoke block')], DEFAULT_CATALOG, None, 9))"
    )
    keys = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2")
    }  # fmt: skip
    assert len(keys) == 1


def _entry(tmp_path: Path, text: str) -> Path:
    policy = guardrails.loads(text, "k.rules", cache=tmp_path)
    assert policy.compiled.cache_entry is not None
    return policy.compiled.cache_entry


def test_an_entry_anyone_else_could_write_is_never_used(tmp_path):
    text = "on tool_pre_invoke block\n"
    entry = _entry(tmp_path, text)
    assert _hit(text, tmp_path)
    os.chmod(entry, 0o664)  # ours, but the group could have rewritten it
    assert not _hit(text, tmp_path)
    os.chmod(entry, 0o600)
    os.chown(entry, 65534, 65534)  # someone else's
    assert not _hit(text, tmp_path)
    os.chown(entry, os.getuid(), os.getgid())
    assert _hit(text, tmp_path)
    os.chmod(tmp_path, 0o777)  # a directory others can write: no cache at all
    assert rulecache.directory(tmp_path) is None
    policy = guardrails.loads(text, "k.rules", cache=tmp_path)
    assert not policy.compiled.from_cache and policy.compiled.cache_entry is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d.update(source=d["source"] + "\n().__class__\n"),  # Python's internals
        lambda d: d["constants"].update(d={"_k0": {"dc": "Popen", "v": {}}}),  # a type not ours
        lambda d: d.update(format=0),
        lambda d: d.update(programs={"names": ["id"], "rows": [[{"p": 7}]], "pool": []}),
    ],
)
def test_an_entry_that_is_not_our_data_is_a_cold_load(tmp_path, tamper):
    text = 'on tool_pre_invoke when tool.name == "rm" block "no rm"\n'
    entry = _entry(tmp_path, text)
    data = json.loads(entry.read_text())
    tamper(data)
    entry.write_text(json.dumps(data))
    policy = guardrails.loads(text, "k.rules", cache=tmp_path)
    assert not policy.compiled.from_cache
    assert policy.evaluate("tool_pre_invoke", {"tool": {"name": "rm"}}).reason == "no rm"
    assert _hit(text, tmp_path)  # and the good entry is back


def test_damaged_entries_and_unwritable_directories_mean_a_cold_load(tmp_path):
    text = "on tool_pre_invoke block\n"
    entry = _entry(tmp_path, text)
    entry.write_text("{not json")
    assert not _hit(text, tmp_path) and _hit(text, tmp_path)


def test_the_least_recently_used_entries_go_first(tmp_path):
    entries = [
        _entry(tmp_path, f'on tool_pre_invoke when tool.name == "{i}" block\n') for i in range(5)
    ]
    for i, entry in enumerate(entries):
        os.utime(entry, (1000 + i, 1000 + i))
    os.utime(entries[0], (2000, 2000))  # the oldest, but used last
    rulecache.evict(tmp_path, max_entries=3)
    assert [e.exists() for e in entries] == [True, False, False, True, True]
    rulecache.evict(tmp_path, max_bytes=entries[0].stat().st_size)
    assert [e.exists() for e in entries] == [True, False, False, False, False]


def test_small_rulesets_skip_the_default_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(rulecache.ENV, str(tmp_path))
    small = "on tool_pre_invoke block\n"
    assert guardrails.loads(small).compiled.cache_entry is None
    large = "".join(
        f'on tool_pre_invoke when tool.name == "tool_number_{i}" block\n' for i in range(100)
    )
    assert guardrails.loads(large).compiled.cache_entry is not None
    assert guardrails.loads(large).compiled.from_cache


def test_guardrails_compile_prebuilds_what_load_then_links(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "cache"
    run = subprocess.run(
        [sys.executable, "-m", "guardrails", "compile", "rules", "-o", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("compiled ") and str(out) in run.stdout
    monkeypatch.setenv(rulecache.ENV, str(out))
    policy = guardrails.load("rules")
    assert policy.compiled.from_cache
    (tmp_path / "bad.rules").write_text("on no_such_hook block\n")
    bad = subprocess.run(
        [sys.executable, "-m", "guardrails", "compile", str(tmp_path / "bad.rules"), "-o", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 1 and "GR0" in bad.stderr
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    refused = subprocess.run(
        [sys.executable, "-m", "guardrails", "compile", "rules", "-o", str(shared)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode == 2 and "cannot hold a trusted cache" in refused.stderr
