#!/usr/bin/env bash
# The whole check, as CI runs it: lint, format, types, the project's own rules, tests;
# then the host tests again in .venv-gw, against the cpex the ContextForge gateway brings.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
echo "== ruff check";   .venv/bin/ruff check .
echo "== ruff format";  .venv/bin/ruff format --check .
echo "== mypy";         .venv/bin/mypy
echo "== rules";        .venv/bin/guardrails check rules/ && .venv/bin/guardrails fmt --check rules/
echo "== pytest";       .venv/bin/python -m pytest "$@"

# The tests that must hold on every cpex version we support (docs/hosts.md), and every
# tests/test_gateway*.py.
source scripts/gateway-venv.sh
shopt -s nullglob
host_tests=(
  tests/test_cpex_binding.py tests/test_cpex_yaml.py tests/test_integrity_cpex.py
  tests/test_fail_closed.py tests/test_reload.py tests/test_host_agreement.py
  tests/test_serve.py tests/test_remote.py tests/test_gateway*.py
)
gw_cpex="$(.venv-gw/bin/python -c 'from importlib.metadata import version; print(version("cpex"))')"
echo "== pytest (cpex $gw_cpex + gateway)"
.venv-gw/bin/python -m pytest "${host_tests[@]}"
