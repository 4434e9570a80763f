#!/usr/bin/env bash
# Serves the demo SPA in web/ on http://localhost:5173 (node's http module, no
# dependencies). Run the API beside it (`cargo run`), then open the page.
#   scripts/serve-web.sh [--port 5173] [--host 127.0.0.1]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v node >/dev/null 2>&1; then
  echo "serve-web.sh: node is not installed (Node.js 18 or newer is needed)" >&2
  exit 1
fi
exec node "$here/serve-web.mjs" "$@"
