#!/usr/bin/env bash
# Runs the browser end-to-end test (frontend/e2e/run.mjs, playwright-core +
# Debian's Chromium) against a real ClaraTeach server with its local agent
# and real seats, on a free loopback port and a throwaway data directory.
# Run as root, a workshop on a test image (pushed into a registry on a
# loopback port) is tested too. Screenshots land in $CLARATEACH_ARTIFACTS
# (default artifacts/e2e). E2E_STEPS=REGEX runs only the steps whose names
# match (e.g. E2E_STEPS='^(1|I[0-9])\.' for sign-up and the image steps).
#
#   ./scripts/e2e.sh [--keep]    --keep leaves the data dir and server log
set -euo pipefail

if [[ ${1-} == -h || ${1-} == --help ]]; then
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
keep=0
[[ ${1-} == --keep ]] && keep=1

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh
need_cmd curl jq node

make -s web build >/dev/null
if [[ ! -d frontend/node_modules ]]; then (cd frontend && npm ci --no-audit --no-fund); fi

data=$(mktemp -d /tmp/clarateach-e2e.XXXXXX)
internal=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
export CLARATEACH_ARTIFACTS=${CLARATEACH_ARTIFACTS:-$root/artifacts/e2e}
mkdir -p "$CLARATEACH_ARTIFACTS"

# start_server PORT: starts the server on PORT in the background (pid in
# $server). Seats get no network here, so the test machine keeps its firewall
# as it was.
start_server() {
    url="http://127.0.0.1:$1"
    log "server on $url, previews on 127.0.0.1:$(($1 + 1)), data in $data"
    DATA_DIR=$data PORT=$1 PREVIEW_LISTEN=127.0.0.1:$(($1 + 1)) PUBLIC_URL=$url INTERNAL_TOKEN=$internal RECONCILE_INTERVAL=250ms SEAT_NETWORK=off WARM_SEATS=2 SEAT_ORPHAN_TIMEOUT=2m \
        bin/clarateach server >"$data/server.log" 2>&1 &
    server=$!
}
# The server takes PORT and PORT+1 (previews).
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { # the first even port from $1 on with the one after it free
    local p=$1
    while in_use "$p" || in_use $((p + 1)); do p=$((p + 2)); done
    echo "$p"
}
registry= # the test registry's pid, once it runs
port=$(free_port 18080)
start_server "$port"

cleanup() {
    local rc=$?
    # Tear every workshop down through the API so no seat outlives the test.
    if kill -0 "$server" 2>/dev/null && [[ -f $data/first-login.txt ]]; then
        pw=$(sed -n 's/^password: //p' "$data/first-login.txt")
        tok=$(curl -fsS -H 'Content-Type: application/json' -d "{\"email\":\"admin@localhost\",\"password\":\"$pw\"}" "$url/api/auth/login" | jq -r .token || true)
        if [[ -n ${tok-} && $tok != null ]]; then
            for id in $(curl -fsS -H "Authorization: Bearer $tok" "$url/api/workshops" | jq -r '.workshops[].id'); do
                curl -fsS -X DELETE -H "Authorization: Bearer $tok" "$url/api/workshops/$id" >/dev/null || true
            done
            curl -fsS -X POST -H "Authorization: Bearer $internal" "$url/internal/reconcile" >/dev/null || true
        fi
    fi
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    if [[ -n $registry ]]; then
        kill "$registry" 2>/dev/null || true
        wait "$registry" 2>/dev/null || true
    fi
    if [[ $rc != 0 ]]; then
        # The whole log goes with the screenshots; on screen, what the server
        # did apart from answering requests (those lines drown the rest).
        { mkdir -p "$CLARATEACH_ARTIFACTS"; cp "$data/server.log" "$CLARATEACH_ARTIFACTS/server.log"; } || true
        echo "--- server log without request lines (last 80; all of it: $CLARATEACH_ARTIFACTS/server.log)"
        grep -v '"msg":"request"' "$data/server.log" | tail -n 80 || true
    fi
    if [[ $keep == 1 ]]; then
        log "kept $data"
    else
        # Local sandbox seats live under /var/lib/clarateach/local-<hash of the
        # agent state dir>. They outlive the server by design (a restart keeps
        # them), and teardown is asynchronous, so the ones still running (warm
        # seats, a class torn down a moment ago) are ended here: each seat's
        # init runs the binary copied under that directory.
        seats=/var/lib/clarateach/local-$(printf '%s' "$data/agent" | sha256sum | cut -c1-8)
        for exe in /proc/[0-9]*/exe; do
            [[ $(readlink "$exe" 2>/dev/null) == "$seats"/* ]] || continue
            pid=${exe#/proc/}
            kill -KILL "${pid%/exe}" 2>/dev/null || true
        done
        rm -rf "$data" "$seats" 2>/dev/null || true
    fi
    exit "$rc"
}
trap cleanup EXIT

# The image workshop's environment (frontend/e2e/image.mjs): the test image
# (Debian's static busybox) pushed into a registry on a loopback port
# (backend/tools/testregistry). Seats on an image need the agent as root.
if [[ $(id -u) == 0 && -x /bin/busybox ]]; then
    (cd backend && CGO_ENABLED=0 ${GO:-go} build -o "$data/testregistry" ./tools/testregistry)
    # 256 KiB/s: the image's 1.2 MB take ~5 s, so the class view shows the
    # pull's progress (step I1) for a few of the reconciler's 1 s polls.
    "$data/testregistry" -blob-rate 262144 >"$data/registry.ref" 2>"$data/registry.log" &
    registry=$!
    for _ in $(seq 1 150); do
        grep -q . "$data/registry.ref" 2>/dev/null && break
        kill -0 "$registry" 2>/dev/null || die "the test registry exited: $(cat "$data/registry.log")"
        sleep 0.2
    done
    E2E_IMAGE=$(head -n 1 "$data/registry.ref")
    [[ -n $E2E_IMAGE ]] || die "the test registry pushed no image: $(cat "$data/registry.log")"
    export E2E_IMAGE
    log "test image $E2E_IMAGE"
else
    log "no image steps: they need root (seats on an image) and Debian's busybox-static"
fi

# Ready means our own server printed its banner (it does once it holds the
# port): a /health answer alone may come from another server that took the
# port first (two test runs on one machine), and then we try the next port.
for _ in $(seq 1 300); do
    grep -qF "is running at $url" "$data/server.log" 2>/dev/null && break
    if ! kill -0 "$server" 2>/dev/null; then
        grep -q 'address already in use' "$data/server.log" || die "the server exited; see $data/server.log"
        wait "$server" 2>/dev/null || true
        port=$(free_port $((port + 2)))
        start_server "$port"
    fi
    sleep 0.2
done
grep -qF "is running at $url" "$data/server.log" || die "the server did not start; see $data/server.log"
curl -fsS "$url/health" >/dev/null || die "the server did not become healthy"

# Sign-up is closed: the browser test signs its instructor up through an
# invite from the first admin.
[[ -f $data/first-login.txt ]] || die "the server wrote no $data/first-login.txt"
E2E_ADMIN_EMAIL=$(sed -n 's/^email: //p' "$data/first-login.txt") \
E2E_ADMIN_PASSWORD=$(sed -n 's/^password: //p' "$data/first-login.txt") \
CLARATEACH_URL=$url node frontend/e2e/run.mjs
