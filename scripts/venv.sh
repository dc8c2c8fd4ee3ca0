# Sourced by the other scripts: make sure .venv exists and holds this checkout's
# dependencies (re-installed whenever pyproject.toml changes).
set -euo pipefail
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "guardrails needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
stamp=".venv/.guardrails-stamp"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  echo "$want" > "$stamp"
fi
