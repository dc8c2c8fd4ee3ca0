# Sourced by scripts/test.sh (or run on its own): make sure .venv-gw exists and holds
# this checkout with the `gateway` extra, i.e. the ContextForge gateway and the cpex it
# brings (0.1.3, on mcp 1.x), plus what the host tests need. .venv stays on cpex 0.1.4.
# Re-installed whenever pyproject.toml or this script changes.
source scripts/venv.sh
# no mellea or haystack here: the tests that need them skip
ensure_venv .venv-gw "pyproject.toml scripts/gateway-venv.sh" -e ".[gateway]" \
  "pytest>=8" "syrupy>=4" "hypothesis>=6.100" "jsonschema>=4"
# The detector packs' Rust scanners (guardrails/detectors/, the `secrets`/`pii` extras)
# import nothing of cpex, but their metadata asks for cpex>=0.1.4 and mcp 2, which this
# environment must not take: installed without dependencies, so `rules/` checks here too.
if ! .venv-gw/bin/python -c "import cpex_pii_filter.pii_filter_rust, cpex_secrets_detection.secrets_detection_rust" 2>/dev/null; then
  .venv-gw/bin/python -m pip install --quiet --no-deps "cpex-pii-filter>=0.3.9,<0.4" \
    "cpex-secrets-detection>=0.3.14,<0.4"
fi
