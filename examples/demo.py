"""Demo: load the project's rules/ and evaluate the sample payloads in examples/payloads/.

Run from the repository root (the README's first command does):

    python examples/demo.py [RULES_DIR] [PAYLOADS_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import guardrails

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    rules_dir = Path(argv[1]) if len(argv) > 1 else ROOT / "rules"
    payload_dir = Path(argv[2]) if len(argv) > 2 else ROOT / "examples" / "payloads"
    try:
        policy = guardrails.load(rules_dir)
    except guardrails.RulesError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"loaded {len(policy.rules)} rules from {rules_dir} (ruleset {policy.ruleset_hash[:12]})")
    print()
    header = f"{'case':<22} {'hook':<20} {'outcome':<8} {'rule':<30} {'code':<20} notes"
    print(header)
    print("-" * len(header))
    for case_file in sorted(payload_dir.glob("*.json")):
        case = json.loads(case_file.read_text())
        verdict = policy.evaluate(case["hook"], case["facts"])
        notes = []
        for result in verdict.rules:
            if result.verdict == "would_block":
                notes.append(f"would block: {result.rule_id} [{result.code}]")
            elif result.verdict == "warn":
                notes.append(f"warn: {result.rule_id} [{result.code}]")
            elif result.verdict == "modify":
                notes.append(f"{result.rule_id} changed {', '.join(result.changes)}")
            elif result.verdict == "error":
                notes.append(f"error: {result.rule_id}: {result.error}")
        print(
            f"{case_file.stem:<22} {case['hook']:<20} {verdict.outcome:<8} "
            f"{verdict.blocked_by or '-':<30} {verdict.code or '-':<20} {'; '.join(notes)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
