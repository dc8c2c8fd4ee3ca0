#!/usr/bin/env bash
# A new user's first steps, from the wheel: build it, install it with the `test` extra
# into a clean virtualenv (nothing of .venv/ in it), and run docs/testing.md's
# walkthrough (init, a green run, a failing then passing snapshot, coverage) with
# that install's `guardrails` and `pytest`. (The other pages use this project's
# rules/, whose detector rules need the detectors extra: tests/test_docs_commands.py
# runs them in the full environment.)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
.venv/bin/python -m pip wheel --quiet --no-deps --no-build-isolation -w "$work/dist" . >/dev/null
wheel="$(ls "$work"/dist/guardrails_rules-*.whl)"
"$PY" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel[test]" 2>&1 \
  | grep -v "^WARNING: Location" || true
"$work/venv/bin/python" -c "import guardrails, pytest, syrupy" # the install is whole
.venv/bin/python tests/docs_commands.py "$work/venv/bin" docs/testing.md
