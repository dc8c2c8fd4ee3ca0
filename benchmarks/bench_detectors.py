"""Detector candidates on the labelled sample: precision, recall and µs per KB.

    python benchmarks/bench_detectors.py [--rounds N] [--show-misses]

For each detector (secrets, pii, injection) it measures every candidate that is
installed here: the regex rules in `rules/` the packs replace (run as rules, through
`Policy.evaluate`), the libraries (detect-secrets, the gateway's Rust
`cpex-secrets-detection` / `cpex-pii-filter`, Presidio's pattern recognizers), and the
packs as shipped (`guardrails/detectors/`). The sample is
`benchmarks/data/detectors_sample.jsonl`: one JSON object a line, `d` the detector,
`y` the types present (empty: a negative, many of them hard), `text`. A text counts as
found when the candidate reports anything (for injection: a score over 0.8).

µs/KB is measured twice: over the sample's short texts (per-call costs dominate) and
on one 64 KB document (negatives with a positive at the end). Times are medians of
interleaved rounds; the packs are timed without their per-text cache.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "benchmarks" / "data" / "detectors_sample.jsonl"
Fired = Callable[[str], bool]


def rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]


# ---- candidates ----


def rule_candidate(path: str, hook: str, fact: str, *rules: str) -> Fired:
    """Regex rules of a file in `rules/` as they run: found when one of them fires
    (the file's detector rule is left out: it is measured as the pack)."""
    import guardrails

    text = (ROOT / "rules" / path).read_text(encoding="utf-8")
    cut = text.rfind("\n\n", 0, text.find("detector pack"))  # the file's detector rule
    policy = guardrails.loads(text[:cut] if cut > 0 else text, filename=path)

    def fired(text: str) -> bool:
        facts: dict[str, Any] = {"prompt": text} if fact == "prompt" else {}
        if fact == "tool.output":
            facts = {"tool": {"name": "t", "args": {}, "output": text}}
        elif fact == "output":
            facts = {"output": text}
        verdict = policy.evaluate(hook, facts)
        return any(r.verdict != "pass" for r in verdict.rules if r.rule_id in rules)

    return fired


def detect_secrets() -> Fired:
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import default_settings

    def fired(text: str) -> bool:
        with default_settings():
            return any(True for line in text.splitlines() for _ in scan_line(line))

    return fired


def cpex_secrets(config: dict[str, Any]) -> Callable[[], Fired]:
    def make() -> Fired:
        from cpex_secrets_detection.secrets_detection_rust import py_scan_container

        return lambda text: bool(py_scan_container(text, config)[0])

    return make


def cpex_pii() -> Fired:
    from cpex_pii_filter.pii_filter_rust import PIIDetectorRust

    detector = PIIDetectorRust({})
    return lambda text: any(detector.detect(text).values())


def presidio() -> Fired:
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    recognizers = [UsSsnRecognizer(), CreditCardRecognizer(), EmailRecognizer(),
                   PhoneRecognizer(), IpRecognizer(), IbanRecognizer()]  # fmt: skip

    def fired(text: str) -> bool:
        return any(r.analyze(text, r.supported_entities, None) for r in recognizers)

    return fired


def pack(name: str, threshold: float = 0.8) -> Callable[[], Fired]:
    def make() -> Fired:
        from guardrails.detectors import BUILTIN

        scan = next(d for d in BUILTIN if d.name == name).load()  # uncached
        if name == "injection":
            return lambda text: scan(text) > threshold  # type: ignore[operator]
        return lambda text: bool(scan(text))

    return make


CANDIDATES: dict[str, list[tuple[str, Callable[[], Fired]]]] = {
    "secrets": [
        ("rules/secrets.rules (regex)", lambda: rule_candidate("secrets.rules", "tool_post_invoke", "tool.output", "redact_tool_secrets", "withhold_disguised_secrets")),
        ("detect-secrets 1.5 (default plugins)", detect_secrets),
        ("cpex-secrets-detection (defaults)", cpex_secrets({})),
        ("cpex-secrets-detection (all patterns)", cpex_secrets({"enabled": {k: True for k in (
            "generic_api_key_assignment", "jwt_like", "hex_secret_32", "base64_24")}})),
        ("secrets() pack", pack("secrets")),
    ],
    "pii": [
        ("rules/pii_output.rules (regex)", lambda: rule_candidate("pii_output.rules", "generation_post_call", "output", "ssn_in_output", "card_in_output", "email_in_output")),
        ("cpex-pii-filter (defaults)", cpex_pii),
        ("presidio-analyzer pattern recognizers", presidio),
        ("pii() pack", pack("pii")),
    ],
    "injection": [
        ("rules/injection.rules (regex)", lambda: rule_candidate("injection.rules", "generation_pre_call", "prompt", "prompt_injection")),
        ("injection() pack, score > 0.8", pack("injection", 0.8)),
        ("injection() pack, score > 0.5", pack("injection", 0.5)),
    ],
}  # fmt: skip


# ---- measuring ----


def scores(fired: Fired, sample: list[dict[str, Any]], show: bool) -> tuple[float, float]:
    tp = fp = fn = 0
    for row in sample:
        hit = fired(row["text"])
        if hit and row["y"]:
            tp += 1
        elif hit:
            fp += 1
            if show:
                print(f"      false positive: {row['text'][:90]!r}")
        elif row["y"]:
            fn += 1
            if show:
                print(f"      missed {row['y']}: {row['text'][:90]!r}")
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1)


def us_per_kb(fns: dict[str, Callable[[], object]], kb: float, rounds: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm up (imports, compiled patterns)
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - start) * 1e6 / kb)
    return {name: statistics.median(v) for name, v in samples.items()}


def document(sample: list[dict[str, Any]], size: int = 64 * 1024) -> str:
    negatives = "\n".join(r["text"] for r in sample if not r["y"])
    positive = next(r["text"] for r in sample if r["y"])
    body = (negatives + "\n") * (size // (len(negatives) + 1) + 1)
    return body[: size - len(positive) - 1] + "\n" + positive


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    data = rows()
    print(f"sample: {SAMPLE.relative_to(ROOT)}, {len(data)} texts")
    for detector, candidates in CANDIDATES.items():
        sample = [r for r in data if r["d"] == detector]
        positives = sum(1 for r in sample if r["y"])
        kb = sum(len(r["text"].encode()) for r in sample) / 1024
        doc = document(sample)
        print(f"\n{detector}: {positives} positive, {len(sample) - positives} negative texts")
        print(f"    {'candidate':<40} {'precision':>9} {'recall':>7} {'µs/KB short':>12} "
              f"{'µs/KB 64KB':>11}")  # fmt: skip
        loaded: dict[str, Fired] = {}
        for name, make in candidates:
            try:
                loaded[name] = make()
            except ImportError as err:
                print(f"    {name:<40} not installed ({err.name})")
        short = us_per_kb(
            {n: (lambda f=f, s=sample: [f(r["text"]) for r in s]) for n, f in loaded.items()},
            kb,
            args.rounds,
        )
        big = us_per_kb(
            {n: (lambda f=f, d=doc: f(d)) for n, f in loaded.items()}, len(doc) / 1024, args.rounds
        )
        for name, fired in loaded.items():
            p, r = scores(fired, sample, args.show_misses)
            print(f"    {name:<40} {p:9.2f} {r:7.2f} {short[name]:12.0f} {big[name]:11.0f}")


if __name__ == "__main__":
    main()
