#!/usr/bin/env bash
# The whole check, as CI runs it: lint, format, types, the project's own rules, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
echo "== ruff check";   .venv/bin/ruff check .
echo "== ruff format";  .venv/bin/ruff format --check .
echo "== mypy";         .venv/bin/mypy
echo "== rules";        .venv/bin/guardrails check rules/ && .venv/bin/guardrails fmt --check rules/
echo "== pytest";       .venv/bin/python -m pytest "$@"
