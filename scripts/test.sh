#!/usr/bin/env bash
# Runs every test of the project: unit tests, the HTTP API suite (twice: with
# HS256 and with EdDSA access tokens; its account tests deliver mail to a real
# SMTP server, tests/smtp), the store conformance suite (SQLite
# always; MongoDB where TEST_MONGO_URI / TEST_MONGO_STANDALONE_URI point to a
# server), third-party JWT verifiers (jose, PyJWT) against the JWKS, the
# end-to-end suite in headless Chromium and schemathesis against the OpenAPI
# document. Installs
# what the tests need. Builds once (debug); never skips: a missing tool or
# browser is a failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p target
log=target/test-output.log
: > "$log"

echo "==> the SMTP server the API tests deliver mail to (npm: smtp-server, mailparser)"
command -v node >/dev/null 2>&1 || { echo "test: node is not installed (the SMTP sink and the browser tests need Node.js 20+)" >&2; exit 1; }
(cd tests/smtp && npm ci --no-audit --no-fund --loglevel=error </dev/null) || {
  echo "test: npm ci in tests/smtp failed" >&2
  exit 1
}

echo "==> cargo test: unit, API and store conformance suites"
cargo test --all-targets --locked 2>&1 | tee -a "$log"

echo "==> cargo test: the API suite again, with EdDSA access tokens (same build)"
TOKENGATE_TEST_JWT_ALGORITHM=EdDSA cargo test --test api --locked 2>&1 | tee -a "$log"

echo "==> third-party verifiers (jose, PyJWT) against the JWKS"
scripts/verifiers.sh 2>&1 | tee -a "$log"

echo "==> end-to-end tests in headless Chromium"
scripts/e2e.sh 2>&1 | tee -a "$log"

echo "==> schemathesis against the running service and its OpenAPI document"
scripts/schemathesis.sh

echo
echo "==> all suites passed"
grep -h '^store conformance backends:' "$log" || {
  echo "the store conformance suite did not report its backends" >&2
  exit 1
}
# One closing line over the Rust and browser suites (schemathesis reports
# its own cases above).
awk '
  /^test result: / { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1) } }
  /^# pass / { p += $3 }
  /^# fail / { f += $3 }
  END { printf "total: %d passed, %d failed\n", p, f }
' "$log"
