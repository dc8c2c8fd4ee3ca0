#!/usr/bin/env bash
# The demo: load rules/, evaluate the sample payloads in examples/payloads/, then run the
# rules inside a real cpex manager and a real Mellea session (examples/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
exec .venv/bin/python examples/demo.py "$@"
