#!/usr/bin/env bash
# Starts the ClaraTeach web app in development mode (Vite on port 5173),
# proxying /api (HTTP, Server-Sent Events and WebSockets) to the backend.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/start-frontend.sh [--help] [-- VITE_ARGS...]

Starts the web app's development server on http://localhost:5173 and proxies
/api to the control plane.

Environment:
  BACKEND_URL   backend to proxy /api to (default: http://localhost:8080)
  PORT          dev server port (default: 5173)

Installs the npm dependencies first (npm ci) when frontend/node_modules is
missing or older than package-lock.json. Start the backend with
scripts/start-backend.sh (or `make dev`).
USAGE
}

case "${1:-}" in
  -h | --help)
    usage
    exit 0
    ;;
  --)
    shift
    ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/frontend"

if ! command -v npm >/dev/null 2>&1; then
  echo "start-frontend: npm is not installed (Node.js 20.19 or newer is needed)" >&2
  exit 1
fi

if [[ ! -d node_modules || package-lock.json -nt node_modules ]]; then
  echo "start-frontend: installing dependencies (npm ci)..."
  npm ci --no-audit --no-fund
fi

export BACKEND_URL="${BACKEND_URL:-http://localhost:8080}"
port="${PORT:-5173}"
echo "start-frontend: http://localhost:${port} (proxying /api to ${BACKEND_URL})"
exec npx vite --port "$port" --strictPort "$@"
