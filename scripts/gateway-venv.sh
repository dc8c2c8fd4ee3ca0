# Sourced by scripts/test.sh (or run on its own): make sure .venv-gw exists and holds
# this checkout with the `gateway` extra, i.e. the ContextForge gateway and the cpex it
# brings (0.1.3, on mcp 1.x), plus what the host tests need. .venv stays on cpex 0.1.4.
# Re-installed whenever pyproject.toml or this script changes.
source scripts/venv.sh
# no mellea or haystack here: the tests that need them skip
ensure_venv .venv-gw "pyproject.toml scripts/gateway-venv.sh" -e ".[gateway]" \
  "pytest>=8" "syrupy>=4" "hypothesis>=6.100" "jsonschema>=4"
