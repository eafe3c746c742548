#!/usr/bin/env bash
# Runs ClaraTeach's benchmarks and prints their figures (nothing is asserted),
# each after a machine line (CPU, count, load average at start, kernel):
#   join storm (control plane on PostgreSQL, CPU per request, bare-insert
#   baseline), seat start against bubblewrap / terminal round trip and
#   throughput against wetty / idle memory (agent), time to a running 30-seat
#   workshop (local provisioner), archiving and restoring 30 homes of 50 MB,
#   a seat's web app through the preview origin against a direct connection,
#   image pull and seats on an image vs the host root (root only),
#   web bundle sizes and time to a live terminal in headless Chromium, and a
#   big class (200 learners join one workshop; 20 class views; 2,000 idle
#   terminals through the relay), then 500 learners on 5 local agents with
#   real seats (join, time until every learner has a live prompt).
#
#   ./scripts/bench-all.sh            all
#   BENCHES="joinstorm agent" ./scripts/bench-all.sh
#   BIGCLASS_HOSTS="-local-hosts 3 -learners 60" ./scripts/bench-all.sh   a smaller real-seats run
set -uo pipefail

if [[ ${1-} == -h || ${1-} == --help ]]; then
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
BENCHES=${BENCHES:-"joinstorm agent provision archive preview images web bigclass"}
want() { [[ " $BENCHES " == *" $1 "* ]]; }
status=0

if want joinstorm; then
    echo "=== bench: join storm"
    (cd backend && go run ./bench/joinstorm) || status=1
fi
if want agent; then
    echo "=== bench: agent (seat ready, terminal echo and throughput vs wetty, memory per seat)"
    if [[ -d backend/bench/agent ]]; then (cd backend && go run ./bench/agent) || status=1; else echo "skipped: backend/bench/agent missing"; fi
fi
if want provision; then
    echo "=== bench: time to running (30 seats, local provisioner)"
    if [[ -d backend/bench/provision ]]; then (cd backend && go run ./bench/provision) || status=1; else echo "skipped: backend/bench/provision missing"; fi
fi
if want archive; then
    echo "=== bench: saving and restoring homes (30 seats × 50 MB: time added to stop and to start)"
    if [[ -d backend/bench/archive ]]; then (cd backend && go run ./bench/archive) || status=1; else echo "skipped: backend/bench/archive missing"; fi
fi
if want preview; then
    echo "=== bench: preview (python3 -m http.server in a seat: first byte and a 50 MB download, preview origin vs direct)"
    if [[ -d backend/bench/preview ]]; then (cd backend && go run ./bench/preview) || status=1; else echo "skipped: backend/bench/preview missing"; fi
fi
if want images; then
    echo "=== bench: workshop environments (image pull and unpack, 30 seats on an image vs the host root)"
    if [[ $(id -u) -ne 0 ]]; then echo "skipped: needs root"; elif [[ -d backend/bench/images ]]; then (cd backend && go run ./bench/images) || status=1; else echo "skipped: backend/bench/images missing"; fi
fi
if want web; then
    echo "=== bench: web bundle sizes and time to a live terminal"
    if [[ -f frontend/bench/run.mjs ]]; then
        make -s web build >/dev/null && (cd frontend && npm run -s bench) || status=1
    else
        echo "skipped: frontend/bench/run.mjs missing"
    fi
fi
if want bigclass; then
    echo "=== bench: big class (join p99, class views, idle terminals through the relay)"
    (cd backend && go run ./bench/bigclass) || status=1
    echo "=== bench: big class on local agents with real seats (join p99, every learner at a live prompt)"
    # shellcheck disable=SC2086 # flags, split on purpose
    (cd backend && go run ./bench/bigclass -views 0 ${BIGCLASS_HOSTS:--local-hosts 5 -learners 500}) || status=1
fi
exit $status
