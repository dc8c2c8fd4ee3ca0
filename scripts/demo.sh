#!/usr/bin/env bash
# The demo: load rules/ and evaluate the sample payloads in examples/payloads/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
exec .venv/bin/python examples/demo.py "$@"
