#!/usr/bin/env bash
# Runs every ClaraTeach test suite this machine can run, and says clearly what
# it skipped and why. Exit status is non-zero when any suite failed.
#
#   ./scripts/test-all.sh            all suites
#   SUITES="go frontend" ./scripts/test-all.sh   only some (go fuzz frontend shell nginx deploy e2e)
set -euo pipefail

usage() {
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
}
if [[ ${1-} == -h || ${1-} == --help ]]; then
    usage
    exit 0
fi

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SUITES=${SUITES:-"go fuzz frontend shell nginx deploy e2e"}
GO=${GO:-go}
passed=() failed=() skipped=()

want() { [[ " $SUITES " == *" $1 "* ]]; }
pass() { passed+=("$1"); printf '\n=== suite %s: PASS\n' "$1"; }
fail() { failed+=("$1"); printf '\n=== suite %s: FAIL\n' "$1"; }
skip() { skipped+=("$1 ($2)"); printf '\n=== suite %s: SKIP — %s\n' "$1" "$2"; }
banner() { printf '\n=== suite %s: %s\n' "$1" "$2"; }

if want go; then
    banner go "go vet + go test ./... (backend)"
    if [[ $(id -u) != 0 ]]; then
        echo "note: not root — namespace, cgroup and network tests skip themselves (CI runs as root)"
    fi
    if (cd backend && $GO vet ./... && $GO test -p 2 -timeout 25m -count=1 ./...); then pass go; else fail go; fi
fi

if want fuzz; then
    banner fuzz "path resolution fuzzing (10 s)"
    if (cd backend && $GO test -run='^$' -fuzz=FuzzResolve -fuzztime=10s ./internal/files/); then pass fuzz; else fail fuzz; fi
fi

if want frontend; then
    if ! command -v npm >/dev/null; then
        skip frontend "npm not installed"
    else
        banner frontend "typecheck + vitest"
        if (cd frontend && { [[ -d node_modules && node_modules/.package-lock.json -nt package-lock.json ]] || npm ci --no-audit --no-fund; } && npm run typecheck && npm test); then pass frontend; else fail frontend; fi
    fi
fi

if want shell; then
    if ! command -v shellcheck >/dev/null; then
        skip shell "shellcheck not installed (apt-get install -y shellcheck)"
    else
        banner shell "shellcheck on every script"
        mapfile -t scripts < <(git ls-files '*.sh' .ci/run scripts/rootfs 2>/dev/null | while read -r f; do [[ -f $f ]] && head -c 64 "$f" | grep -q '^#!.*sh' && echo "$f"; done)
        if shellcheck -x "${scripts[@]}"; then pass shell; else fail shell; fi
    fi
fi

if want nginx; then
    if [[ ! -x scripts/test/nginx-check.sh ]]; then
        skip nginx "scripts/test/nginx-check.sh missing"
    elif ! command -v nginx >/dev/null; then
        skip nginx "nginx not installed (apt-get install -y nginx)"
    else
        banner nginx "nginx -t on the frontend image's config"
        if scripts/test/nginx-check.sh; then pass nginx; else fail nginx; fi
    fi
fi

if want deploy; then
    ran=0 bad=0
    for t in scripts/test/*-test.sh; do
        [[ -x $t ]] || continue
        ran=1
        banner deploy "$t"
        "$t" || bad=1
    done
    if [[ $ran == 0 ]]; then skip deploy "no scripts/test/*-test.sh"; elif [[ $bad == 0 ]]; then pass deploy; else fail deploy; fi
fi

if want e2e; then
    if [[ ! -f frontend/e2e/run.mjs ]]; then
        skip e2e "frontend/e2e/run.mjs missing"
    elif ! command -v chromium >/dev/null; then
        skip e2e "chromium not installed (apt-get install -y chromium)"
    elif ! command -v npm >/dev/null; then
        skip e2e "npm not installed"
    else
        banner e2e "browser end-to-end against a real server, local agent and seats"
        if scripts/e2e.sh; then pass e2e; else fail e2e; fi
    fi
fi

echo
echo "=== summary"
for s in "${passed[@]}"; do echo "  PASS  $s"; done
for s in "${failed[@]}"; do echo "  FAIL  $s"; done
for s in "${skipped[@]}"; do echo "  SKIP  $s"; done
echo "suites: ${#passed[@]} passed, ${#failed[@]} failed, ${#skipped[@]} skipped"
[[ ${#failed[@]} == 0 ]]
