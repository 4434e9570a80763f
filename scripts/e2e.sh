#!/usr/bin/env bash
# End-to-end tests in headless Chromium: the demo SPA and tokengate-client.js
# against the real tokengate binary (tests/e2e/, node's test runner).
#
# Installs what it needs, idempotently and without questions: Debian's
# chromium (apt-get) when /usr/bin/chromium is missing, playwright-core
# (npm ci; it never downloads a browser) and the test SMTP server (npm ci in
# tests/smtp; the API sends its mail there). Builds the binary only if it is
# missing. Fails, never skips, when Chromium cannot be installed or started.
#
# Environment: CHROMIUM_PATH (default /usr/bin/chromium), TOKENGATE_BIN
# (default $CARGO_TARGET_DIR or target, /debug/tokengate). Extra arguments go to `node --test`.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
e2e="$repo/tests/e2e"
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
bin="${TOKENGATE_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/tokengate}"

fail() {
  echo "e2e: FAILED: $*" >&2
  exit 1
}

# --- node ----------------------------------------------------------------
command -v node >/dev/null 2>&1 || fail "node is not installed (Node.js 20 or newer is needed for the end-to-end tests)"
command -v npm >/dev/null 2>&1 || fail "npm is not installed"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || fail "Node.js $(node --version) is too old: the end-to-end tests need 20 or newer"

# --- chromium ------------------------------------------------------------
if [ ! -x "$chromium" ]; then
  echo "e2e: $chromium is missing; installing Debian's chromium"
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo -n)
  else
    fail "Chromium is missing at $chromium and this user cannot run apt-get (not root, no sudo). Install the 'chromium' package or set CHROMIUM_PATH."
  fi
  command -v apt-get >/dev/null 2>&1 ||
    fail "Chromium is missing at $chromium and there is no apt-get to install it. Install Chromium and set CHROMIUM_PATH."
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq ||
    fail "apt-get update failed, so Chromium cannot be installed"
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null ||
    fail "apt-get install chromium failed: Chromium cannot be installed"
  [ -x "$chromium" ] || fail "apt-get installed chromium but $chromium is still missing; set CHROMIUM_PATH"
fi
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
if ! timeout 60 "$chromium" --headless --no-sandbox --disable-gpu --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --dump-dom 'data:text/html,<p>chromium-ok</p>' 2>"$profile/stderr" | grep -q chromium-ok; then
  tail -n 20 "$profile/stderr" >&2 || true
  fail "Chromium at $chromium is installed but cannot be started headless (see its messages above)"
fi
echo "e2e: using $("$chromium" --version 2>/dev/null | head -n 1)"

# --- playwright-core -----------------------------------------------------
# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: belt and braces, playwright-core downloads nothing anyway.
(cd "$e2e" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) ||
  fail "npm ci in tests/e2e failed"

# --- the SMTP server the API mails to (tests/smtp: smtp-server, mailparser) --
(cd "$repo/tests/smtp" && npm ci --no-audit --no-fund --loglevel=error) ||
  fail "npm ci in tests/smtp failed"

# --- the package: types, a strict consumer, the example bundles -------------
# web/ is the npm package tokengate-client. Its devDependencies (typescript,
# esbuild, react, react-dom, @reduxjs/toolkit, @types/react) come from npm.
web="$repo/web"
(cd "$web" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in web failed"
# The checked-in .d.ts files must be what tsc generates from the JSDoc now.
types_tmp="$(mktemp -d)"
(cd "$web" && ./node_modules/.bin/tsc -p tsconfig.json --outDir "$types_tmp") ||
  fail "tsc --declaration --emitDeclarationOnly failed on web/ (type errors in the JSDoc)"
diff -ru "$web/types" "$types_tmp" >&2 ||
  fail "web/types/ is stale: regenerate it with (cd web && npx tsc -p tsconfig.json) and commit it"
rm -rf "$types_tmp"
# A strict TypeScript consumer of the package, resolved by its name.
consumer="$e2e/typescript"
mkdir -p "$consumer/node_modules"
ln -sfn ../../../../web "$consumer/node_modules/tokengate-client"
"$web/node_modules/.bin/tsc" -p "$consumer/tsconfig.json" --strict --noEmit ||
  fail "the strict TypeScript consumer (tests/e2e/typescript) does not compile against the package"
echo "e2e: package types are current; the strict TypeScript consumer compiles"
node "$web/build-demos.mjs" || fail "bundling the React and RTK Query examples failed"

# --- the server binary -----------------------------------------------------
if [ ! -x "$bin" ]; then
  echo "e2e: $bin is missing; building it"
  (cd "$repo" && cargo build --bin tokengate) || fail "cargo build --bin tokengate failed"
fi
export TOKENGATE_BIN="$bin" CHROMIUM_PATH="$chromium"

# --- run -------------------------------------------------------------------
mkdir -p "$e2e/output"
cd "$e2e"
status=0
timeout 900 node --test --test-reporter=tap --test-concurrency=1 "$@" ./*.test.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "e2e: the end-to-end suite FAILED (exit $status); server logs and screenshots are in tests/e2e/output/" >&2
fi
exit "$status"
