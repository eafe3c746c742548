#!/usr/bin/env bash
# Starts the ClaraTeach backend (control plane) on PORT (default 8080).
#
# Configuration comes from .env in the project root and the environment (see
# backend/.env.example). Without DATABASE_URL and GCP_PROJECT it runs in
# local mode: SQLite under ./data, a local agent and real seats on this
# machine. With DATABASE_URL it uses PostgreSQL (migrations are applied on
# start). Extra arguments are passed to `clarateach server` (try --help).
#
#   ./scripts/start-backend.sh [server flags]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
if [[ ${1-} == -h || ${1-} == --help ]]; then
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    echo
    echo "Server flags:"
    cd "$root/backend" && exec go run ./cmd/clarateach server --help
fi
cd "$root"
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh
need_cmd go
log "building the backend"
make -s build
exec "$root/bin/clarateach" server "$@"
