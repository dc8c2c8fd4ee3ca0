#!/usr/bin/env bash
# The whole check, as CI runs it: lint, format, types, the project's own rules, tests;
# and the host tests again in .venv-gw, against the cpex the ContextForge gateway brings.
# The two pytest runs go side by side (the main one on two worker processes, the
# gateway stage on one: three on a two-core machine keep both cores busy until the
# end); the second one's output is printed when both have ended.
set -euo pipefail
cd "$(dirname "$0")/.."
# System packages and node modules the tests need (below) are installed in the
# background while the Python environment is made and the linters run: mostly downloads.
# What they made possible comes back as exports in $deps_env.
deps_log="$(mktemp)"; deps_env="$(mktemp)"
trap 'rm -f "$deps_log" "$deps_env"' EXIT
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }
apt_install() {
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
system_deps() {
  # The Redis store's tests run a real redis-server (tests/redis_server.py) and fail
  # without one; a fresh Debian machine gets Debian's.
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "== installing redis-server"
    apt_install redis-server
  fi

  # The console's browser tests (tests/browser.py) drive a real headless chromium through
  # chromedriver; Debian's, never one Selenium would download. With them installed, a
  # missing browser fails the tests instead of skipping them.
  if ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ]; then
    echo "== installing chromium, chromium-driver"
    apt_install chromium chromium-driver
  fi
  echo "export GUARDRAILS_REQUIRE_BROWSER=1" >> "$deps_env"
  vscode_deps
}

# The VS Code extension (editors/vscode/): tests/test_vscode_grammar.py runs its grammar in
# vscode-textmate and builds the .vsix, which needs node >= 20, npm and the locked
# node_modules (npm ci, only when package-lock.json changed since the last one).
vscode_deps() {
  local dir=editors/vscode
  local stamp="$dir/node_modules/.guardrails-package-lock.json"
  if ! command -v npm >/dev/null 2>&1; then
    echo "== installing nodejs, npm"
    apt_install nodejs npm
  fi
  if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
    echo "node $(node --version) is older than 20 (@vscode/vsce needs 20): the VS Code tests are skipped"
    return 0
  fi
  if ! cmp -s "$dir/package-lock.json" "$stamp"; then
    echo "== npm ci (editors/vscode)"
    (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
    cp "$dir/package-lock.json" "$stamp"
  fi
  echo "export GUARDRAILS_REQUIRE_VSCODE=1" >> "$deps_env"
  # tests/test_vscode_e2e.py: the extension in code-server (VS Code in the browser), driven
  # in chromium; the script says why when this machine cannot have them (node not 20)
  local status=0
  bash scripts/vscode-e2e-deps.sh || status=$?
  if [ "$status" -eq 0 ]; then
    echo "export GUARDRAILS_REQUIRE_VSCODE_E2E=1" >> "$deps_env"
  elif [ "$status" -ne 2 ]; then
    return "$status"
  fi
}
( system_deps ) > "$deps_log" 2>&1 &
deps_pid=$!

source scripts/venv.sh
echo "== ruff check";   .venv/bin/ruff check .
echo "== ruff format";  .venv/bin/ruff format --check .
echo "== mypy";         .venv/bin/mypy
echo "== rules";        .venv/bin/guardrails check rules/ examples/policies/ && .venv/bin/guardrails fmt --check rules/ examples/policies/
# every rule fires and passes on some case, each operand seen true and false
echo "== corpus coverage"
.venv/bin/guardrails test rules --corpus tests/corpus --min-coverage 100 -- -p no:hypothesispytest

deps_rc=0; wait "$deps_pid" || deps_rc=$?
cat "$deps_log"
if [ "$deps_rc" -ne 0 ]; then
  echo "== failed: installing what the tests need (exit $deps_rc)"
  exit 1
fi
# shellcheck disable=SC1090  # written by system_deps
source "$deps_env"

# The tests that must hold on every cpex version we support (docs/hosts.md), and every
# tests/test_gateway*.py.
gateway_stage() {
  source scripts/gateway-venv.sh
  shopt -s nullglob
  local host_tests=(
    tests/test_cpex_binding.py tests/test_cpex_fuse.py tests/test_cpex_yaml.py tests/test_integrity_cpex.py
    tests/test_fail_closed.py tests/test_reload.py tests/test_host_agreement*.py
    tests/test_serve.py tests/test_serve_workers.py tests/test_remote.py tests/test_state_hosts.py tests/test_gateway*.py
    tests/test_breaker_engine.py
  )
  local gw_cpex
  gw_cpex="$(.venv-gw/bin/python -c 'from importlib.metadata import version; print(version("cpex"))')"
  echo "== pytest (cpex $gw_cpex + gateway)"
  .venv-gw/bin/python -m pytest "${host_tests[@]}"
}
gw_log="$(mktemp)"; fu_log="$(mktemp)"; rcs="$(mktemp)"
trap 'rm -f "$gw_log" "$fu_log" "$rcs" "$deps_log" "$deps_env"' EXIT
# beside the main run, one after the other: the gateway stage, then a new user's
# walkthrough from the wheel in a clean virtualenv (scripts/fresh-user.sh)
(
  rc=0; ( gateway_stage ) > "$gw_log" 2>&1 || rc=$?; echo "gw $rc" >> "$rcs"
  rc=0; bash scripts/fresh-user.sh > "$fu_log" 2>&1 || rc=$?; echo "fu $rc" >> "$rcs"
) &
side_pid=$!

echo "== pytest"
main_rc=0
# two worker processes, a test file to each at a time (its fixtures set up once)
.venv/bin/python -m pytest -n 2 --dist loadfile "$@" || main_rc=$?
wait "$side_pid" || true
cat "$gw_log"
echo "== fresh user (the wheel with [test] in a clean virtualenv, docs/testing.md)"
cat "$fu_log"
gw_rc="$(awk '$1 == "gw" {print $2}' "$rcs")"; fu_rc="$(awk '$1 == "fu" {print $2}' "$rcs")"
if [ "$main_rc" -ne 0 ] || [ "${gw_rc:-1}" -ne 0 ] || [ "${fu_rc:-1}" -ne 0 ]; then
  echo "== failed: pytest exit $main_rc, gateway stage exit ${gw_rc:-?}, fresh user exit ${fu_rc:-?}"
  exit 1
fi
