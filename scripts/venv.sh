# Sourced by the other scripts: make sure .venv exists and holds this checkout's
# dependencies (re-installed whenever pyproject.toml changes). `ensure_venv` is what
# scripts/gateway-venv.sh uses for the second environment too.
set -euo pipefail
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "guardrails needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

# ensure_venv DIR "FILES THE INSTALL DEPENDS ON" PIP-INSTALL-ARGS...
ensure_venv() {
  local dir="$1" inputs="$2"
  shift 2
  local stamp="$dir/.guardrails-stamp" want
  # shellcheck disable=SC2086  # the inputs are a list of file names
  want="$(cat $inputs | sha256sum | cut -d' ' -f1)"
  if [ ! -x "$dir/bin/python" ]; then
    "$PY" -m venv "$dir"
  fi
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    "$dir/bin/python" -m pip install --quiet --upgrade pip
    "$dir/bin/python" -m pip install --quiet "$@"
    echo "$want" > "$stamp"
  fi
}

ensure_venv .venv pyproject.toml -e ".[dev]"
