#!/usr/bin/env bash
# Runs every test of the project: unit tests, the HTTP API suite, the store
# conformance suite (SQLite always; MongoDB where TEST_MONGO_URI /
# TEST_MONGO_STANDALONE_URI point to a server) and the end-to-end suite in
# headless Chromium. Installs what the tests need. Builds once (debug).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "==> cargo test (unit, API and store suites)"
cargo test --all-targets --locked

if [ -x scripts/e2e.sh ]; then
  echo "==> end-to-end tests in headless Chromium"
  scripts/e2e.sh
fi

echo
echo "==> store backends that ran the conformance suite:"
if [ -n "${TEST_MONGO_URI:-}" ]; then echo "    mongodb (replica set)"; fi
if [ -n "${TEST_MONGO_STANDALONE_URI:-}" ]; then echo "    mongodb (standalone)"; fi
echo "    sqlite"
