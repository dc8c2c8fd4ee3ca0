# Sourced by scripts/test.sh (or run on its own): make sure .venv-gw exists and holds
# this checkout with the `gateway` extra, i.e. the ContextForge gateway and the cpex it
# brings (0.1.3, on mcp 1.x), plus what the host tests need. .venv stays on cpex 0.1.4.
# Re-installed whenever pyproject.toml or this script changes.
set -euo pipefail
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "guardrails needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
gw_stamp=".venv-gw/.guardrails-stamp"
gw_want="$(cat pyproject.toml scripts/gateway-venv.sh | sha256sum | cut -d' ' -f1)"
if [ ! -x .venv-gw/bin/python ]; then
  "$PY" -m venv .venv-gw
fi
if [ "$(cat "$gw_stamp" 2>/dev/null || true)" != "$gw_want" ]; then
  .venv-gw/bin/python -m pip install --quiet --upgrade pip
  # no mellea or haystack here: the tests that need them skip
  .venv-gw/bin/python -m pip install --quiet -e ".[gateway]" \
    "pytest>=8" "syrupy>=4" "hypothesis>=6.100" "jsonschema>=4"
  echo "$gw_want" > "$gw_stamp"
fi
