#!/usr/bin/env bash
# What tests/test_vscode_e2e.py needs to run the extension in a real VS Code: code-server
# (VS Code in the browser, from npm) in editors/vscode/.e2e/ (git-ignored, reused while
# the pinned version is unchanged), and Debian's chromium + chromedriver to drive it.
#
# Exits 0 with the tools in place, 2 (a line says why) when this machine cannot have
# them (node is not 20), 1 when an install that should work failed.
set -euo pipefail
cd "$(dirname "$0")/.."

# The last code-server whose install accepts node 20 (4.103 wants 22, 4.139 wants 24):
# its postinstall refuses any other node major. It is VS Code 1.100.3.
CODE_SERVER=4.100.3
# code-server's VS Code locks @vscode/ripgrep 1.15.11, whose postinstall downloads rg
# from api.github.com; closed networks (CI) only reach registries. The binary comes from
# npm instead (@vscode/ripgrep-<platform>), put where that postinstall looks first: its
# download cache, under the name of the asset it would fetch.
RIPGREP_LOCKED=1.15.11
RIPGREP_ASSET_VERSION=v13.0.0-10
RIPGREP_NPM=1.18.0

DIR=editors/vscode/.e2e
STAMP="$DIR/installed"
WANT="code-server@$CODE_SERVER"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }
apt_install() {
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo none)
if [ "$node_major" != 20 ]; then
  echo "code-server $CODE_SERVER installs on node 20 only (this is node $node_major): the VS Code e2e test is skipped"
  exit 2
fi

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  # code-server's native modules are built here: kerberos needs gssapi's headers
  command -v g++ >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || missing+=(g++ make)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  apt_install "${missing[@]}"
fi

if [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ] && [ -x "$DIR/node_modules/.bin/code-server" ]; then
  exit 0
fi

case "$(uname -m)" in
  x86_64) rg_platform=linux-x64 rg_target=x86_64-unknown-linux-musl ;;
  aarch64) rg_platform=linux-arm64 rg_target=aarch64-unknown-linux-musl ;;
  *) echo "no ripgrep for $(uname -m): the VS Code e2e test is skipped"; exit 2 ;;
esac

echo "== installing $WANT (editors/vscode/.e2e)"
rm -rf "$DIR"
mkdir -p "$DIR/tmp/vscode-ripgrep-cache-$RIPGREP_LOCKED" "$DIR/rg"
DIR=$(cd "$DIR" && pwd)
(cd "$DIR/rg" && npm pack --silent "@vscode/ripgrep-$rg_platform@$RIPGREP_NPM" >/dev/null \
  && tar xzf ./*.tgz && test -x package/bin/rg)
tar czf "$DIR/tmp/vscode-ripgrep-cache-$RIPGREP_LOCKED/ripgrep-$RIPGREP_ASSET_VERSION-$rg_target.tar.gz" \
  -C "$DIR/rg/package/bin" rg
echo '{"private": true}' >"$DIR/package.json"
# As root, code-server's postinstall wants npm's old unsafe-perm setting; node-pty's runs
# `npx node-gyp`, which must not stop to ask.
(cd "$DIR" && TMPDIR="$DIR/tmp" npm_config_unsafe_perm=true npm_config_yes=true \
  npm install --no-audit --no-fund --loglevel=error "$WANT" >"$DIR/install.log" 2>&1) || {
  tail -n 40 "$DIR/install.log"
  echo "installing $WANT failed (the whole log: $DIR/install.log)"
  exit 1
}
rm -rf "$DIR/tmp" "$DIR/rg"
echo "$WANT" >"$STAMP"
