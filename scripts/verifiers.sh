#!/usr/bin/env bash
# Third-party verifiers of tokengate's EdDSA access tokens, against the real
# binary and its real JWKS (tests/verifiers/): jose (npm, through the
# README's express snippet) and PyJWT + cryptography (PyPI, in a venv under
# target/). Both verify a token before and after a forced key rotation, and
# a retired key's token only until it expires.
#
# Installs what it needs, idempotently: `npm ci` in tests/verifiers, the venv
# (again only when the pinned versions change; Debian's python3-venv when
# missing). Builds the binary only if it is missing. Fails, never skips.
#
# Environment: TOKENGATE_BIN (default $CARGO_TARGET_DIR or target, /debug/tokengate).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
verifiers="$repo/tests/verifiers"
bin="${TOKENGATE_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/tokengate}"
PYJWT=2.15.1
CRYPTOGRAPHY=50.0.2
venv="$repo/target/verifiers/venv"

fail() {
  echo "verifiers: FAILED: $*" >&2
  exit 1
}

command -v node >/dev/null 2>&1 || fail "node is not installed (Node.js 20 or newer)"
command -v npm >/dev/null 2>&1 || fail "npm is not installed"
(cd "$verifiers" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in tests/verifiers failed"

want="pyjwt==$PYJWT cryptography==$CRYPTOGRAPHY"
if [ "$(cat "$venv/.pinned" 2>/dev/null)" != "$want" ]; then
  echo "verifiers: installing $want into $venv"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  if ! python3 -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    fi
    python3 -m venv "$venv" || fail "python3 -m venv failed (install python3-venv)"
  fi
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet --disable-pip-version-check $want || fail "pip install $want failed"
  echo "$want" >"$venv/.pinned"
fi

if [ ! -x "$bin" ]; then
  echo "verifiers: $bin is missing; building it"
  (cd "$repo" && cargo build --locked --bin tokengate) || fail "cargo build --bin tokengate failed"
fi

cd "$verifiers"
TOKENGATE_BIN="$bin" VERIFIERS_PYTHON="$venv/bin/python" \
  timeout 300 node --test --test-reporter=tap --test-concurrency=1 "$@" ./*.test.mjs
