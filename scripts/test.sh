#!/usr/bin/env bash
# Runs every test of the project: unit tests, the HTTP API suite, the store
# conformance suite (SQLite always; MongoDB where TEST_MONGO_URI /
# TEST_MONGO_STANDALONE_URI point to a server), the end-to-end suite in
# headless Chromium and schemathesis against the OpenAPI document. Installs
# what the tests need. Builds once (debug); never skips: a missing tool or
# browser is a failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p target
log=target/test-output.log

echo "==> cargo test: unit, API and store conformance suites"
cargo test --all-targets --locked 2>&1 | tee "$log"

echo "==> end-to-end tests in headless Chromium"
scripts/e2e.sh

echo "==> schemathesis against the running service and its OpenAPI document"
scripts/schemathesis.sh

echo
echo "==> all suites passed"
grep -h '^store conformance backends:' "$log" || {
  echo "the store conformance suite did not report its backends" >&2
  exit 1
}
