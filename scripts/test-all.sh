#!/usr/bin/env bash
# Runs every ClaraTeach test suite, after installing what the suites need, and
# says clearly what it skipped and why. Exit status is non-zero when any suite
# failed.
#
#   ./scripts/test-all.sh                          all suites
#   SUITES="go frontend" ./scripts/test-all.sh     only some (go fuzz frontend shell nginx deploy e2e)
#   SKIP_SUITES="e2e" ./scripts/test-all.sh        all but some (the explicit way to skip)
#   SKIP_SUITES=postgres ./scripts/test-all.sh     Go tests without PostgreSQL (its tests skip, listed)
#   INSTALL=0 ./scripts/test-all.sh                never install packages (fail instead, naming them)
#
# As root with apt-get (a fresh Debian or Ubuntu machine), missing tools are
# installed (apt-get update once, then the packages by name) and PostgreSQL is
# started. Without them a suite that needs a missing tool FAILS and names the
# package; nothing is skipped silently.
set -euo pipefail

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
}
if [[ ${1-} == -h || ${1-} == --help ]]; then
    usage
    exit 0
fi

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SUITES=${SUITES:-"go fuzz frontend shell nginx deploy e2e"}
SKIP_SUITES=${SKIP_SUITES:-}
INSTALL=${INSTALL:-1}
GO=${GO:-go}
passed=() failed=() skipped=()
t0=$SECONDS

# One set of compile flags for every Go build of the run: go vet, go test,
# the binaries tests build for seats (static: CGO_ENABLED=0, -trimpath) and
# the e2e suite's make build. Each package is then compiled once and shared
# through the build cache; with the default flags (cgo on, paths kept) the
# same ~900 packages were compiled three times over (vet/test, testbin's
# static builds, make build's -trimpath), most of a cold run's CPU. -w leaves
# DWARF out of the ~75 test binaries' links (nobody debugs them; stack
# traces keep their file:line). The README (make test) has the figures.
export CGO_ENABLED=0
GOFLAGS=$($GO env GOFLAGS)
for f in -trimpath -ldflags=-w; do
    [[ " $GOFLAGS " == *" $f "* ]] || GOFLAGS="${GOFLAGS:+$GOFLAGS }$f"
done
export GOFLAGS

want() { [[ " $SUITES " == *" $1 "* && " $SKIP_SUITES " != *" $1 "* ]]; }
pass() { passed+=("$1 ($(( SECONDS - suite_t0 )) s)"); printf '\n=== suite %s: PASS (%d s)\n' "$1" $(( SECONDS - suite_t0 )); }
fail() { failed+=("$1${2:+ ($2)}"); printf '\n=== suite %s: FAIL%s\n' "$1" "${2:+ — $2}"; }
skip() { skipped+=("$1 ($2)"); printf '\n=== suite %s: SKIP — %s\n' "$1" "$2"; }
banner() { suite_t0=$SECONDS; printf '\n=== suite %s: %s\n' "$1" "$2"; }
suite_t0=$SECONDS

for s in $SKIP_SUITES; do
    [[ " $SUITES " == *" $s "* ]] && skip "$s" "SKIP_SUITES"
done
# postgres is part of the go suite: SKIP_SUITES=postgres runs the Go tests
# without PostgreSQL (those tests skip and are listed); otherwise the go
# suite needs it and fails without it.
pg_wanted() { want go && [[ " $SKIP_SUITES " != *" postgres "* ]]; }
if want go && ! pg_wanted; then skip postgres "SKIP_SUITES: the Go tests on PostgreSQL skip"; fi

# ---- set-up: the tools each suite needs (command:package) -------------------
declare -A needs=(
    [go]="gcc:gcc+libc6-dev iptables:iptables ip:iproute2 unshare:util-linux mkfs.ext4:e2fsprogs debugfs:e2fsprogs psql:postgresql-client bwrap:bubblewrap debootstrap:debootstrap envsubst:gettext-base systemd-analyze:systemd dash:dash busybox:busybox-static"
    [shell]="shellcheck:shellcheck"
    [nginx]="nginx:nginx"
    [e2e]="chromium:chromium"
)
can_install() { [[ $INSTALL == 1 && $(id -u) == 0 ]] && command -v apt-get >/dev/null; }
missing_pkgs() { # suite → the packages of its missing commands (a+b: both packages)
    local pair
    for pair in ${needs[$1]-}; do
        command -v "${pair%%:*}" >/dev/null || echo "${pair#*:}" | tr + '\n'
    done
}
apt_updated=0
install_pkgs() {
    if [[ $apt_updated == 0 ]]; then
        echo "setup: apt-get update"
        apt-get update -q >/dev/null
        apt_updated=1
    fi
    echo "setup: apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}
declare -A unmet=()
want_pkgs=()
for suite in go shell nginx e2e; do
    want "$suite" || continue
    mapfile -t m < <(missing_pkgs "$suite")
    ((${#m[@]})) && want_pkgs+=("${m[@]}")
done
if pg_wanted && [[ -z ${CLARATEACH_TEST_DATABASE_URL-} ]] && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && ! command -v pg_ctlcluster >/dev/null; then
    want_pkgs+=(postgresql)
fi
if ((${#want_pkgs[@]})) && can_install; then
    install_pkgs "${want_pkgs[@]}" || echo "setup: apt-get install failed; the suites below say what is missing"
fi
for suite in go shell nginx e2e; do
    want "$suite" || continue
    mapfile -t m < <(missing_pkgs "$suite")
    ((${#m[@]})) && unmet[$suite]="needs ${m[*]} (apt-get install -y ${m[*]}), or SKIP_SUITES=$suite"
done
# PostgreSQL for the Go tests: start the local cluster when it is down, and
# make sure the tests can log in. Its tests then must not skip
# (CLARATEACH_REQUIRE_POSTGRES=1).
if pg_wanted && [[ -z ${CLARATEACH_TEST_DATABASE_URL-} ]]; then
    pg_url='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
    if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && [[ $(id -u) == 0 ]] &&
        command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
        ver=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
        echo "setup: starting PostgreSQL $ver"
        pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
        for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
    fi
    if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && ! psql "$pg_url" -Atc 'select 1' >/dev/null 2>&1 &&
        [[ $(id -u) == 0 ]] && command -v su >/dev/null; then
        # A fresh cluster uses password auth on TCP: give the tests one.
        su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
        pg_url='postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable'
    fi
    if psql "$pg_url" -Atc 'select 1' >/dev/null 2>&1; then
        export CLARATEACH_TEST_DATABASE_URL=$pg_url
    fi
fi
if pg_wanted; then
    if [[ -n ${CLARATEACH_TEST_DATABASE_URL-} ]]; then
        export CLARATEACH_REQUIRE_POSTGRES=1
    else
        unmet[go]="${unmet[go]:+${unmet[go]}; }needs PostgreSQL at 127.0.0.1:5432 that user postgres can log in to (apt-get install -y postgresql, as root: this script starts it), or CLARATEACH_TEST_DATABASE_URL, or SKIP_SUITES=postgres"
    fi
fi

# The suites that share nothing with the Go suite (fuzzing, the web app, the
# shell scripts' lint, the nginx check, the deployment scripts) run with it: on
# 2 CPUs the Go tests spend much of their run waiting (servers, timers,
# child processes), and these fill that time instead of adding theirs after
# it. Their output is printed, whole, after the Go suite's; what they
# passed, failed or skipped goes into the summary as before.
side_suites() {
    # The fuzz run compiles its package's dependencies again, instrumented
    # (a build cache key of its own); package confine imports no networking,
    # so that is ~125 packages (the testing harness's included), not the
    # ~220 of the file API's. -vet=off: the Go suite vets the package
    # (-vet=all); vet here would type-check its dependencies once more.
    # It runs beside the rest of this chain (its result and output are
    # taken at the end of it): the chain is a series (the web app's npm ci,
    # then its tests, then the browser test that needs both), and with the
    # fuzz run first it ended a cold run only ~40 s before the Go suite.
    local fuzz_pid=''
    if want fuzz; then
        (
            t=$SECONDS rc=0
            (cd backend && $GO test -vet=off -run='^$' -fuzz=FuzzResolve -fuzztime=10s ./internal/seat/files/confine/) || rc=$?
            echo $((SECONDS - t)) >"$side_dir/fuzz.secs"
            exit "$rc"
        ) >"$side_dir/fuzz.out" 2>&1 &
        fuzz_pid=$!
    fi

    if want frontend; then
        if ! command -v npm >/dev/null; then
            fail frontend "needs npm (Node 20.19+), or SKIP_SUITES=frontend"
        else
            banner frontend "typecheck + vitest"
            # vitest's default is a worker per CPU but one: on 2 CPUs its 36
            # files ran one after another (~195 s of a cold run's ~295 s
            # frontend suite, the chain's longest step), while the Go
            # suite beside it mostly waits; two workers use that time.
            workers=$(( $(getconf _NPROCESSORS_ONLN) - 1 ))
            if (cd frontend && { [[ -d node_modules && node_modules/.package-lock.json -nt package-lock.json ]] || npm ci --no-audit --no-fund; } && npm run typecheck && npm test -- --maxWorkers=$(( workers > 2 ? workers : 2 ))); then pass frontend; else fail frontend; fi
        fi
    fi

    if want shell; then
        if [[ -n ${unmet[shell]-} ]]; then
            fail shell "${unmet[shell]}"
        else
            banner shell "shellcheck on every script"
            mapfile -t scripts < <(git ls-files '*.sh' .ci/run scripts/rootfs 2>/dev/null | while read -r f; do [[ -f $f ]] && head -c 64 "$f" | grep -q '^#!.*sh' && echo "$f"; done)
            if shellcheck -x "${scripts[@]}"; then pass shell; else fail shell; fi
        fi
    fi

    if want nginx; then
        if [[ ! -x scripts/test/nginx-check.sh ]]; then
            skip nginx "scripts/test/nginx-check.sh missing"
        elif [[ -n ${unmet[nginx]-} ]]; then
            fail nginx "${unmet[nginx]}"
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

    # Last in this chain: the web app's npm ci (frontend suite) is done, and
    # the Go packages of its binaries were compiled before the Go suite
    # started (below), so it overlaps the Go tests' waits instead of
    # following them.
    if want e2e; then
        if [[ ! -f frontend/e2e/run.mjs ]]; then
            skip e2e "frontend/e2e/run.mjs missing"
        elif [[ -n ${unmet[e2e]-} ]]; then
            fail e2e "${unmet[e2e]}"
        elif ! command -v npm >/dev/null; then
            fail e2e "needs npm (Node 20.19+), or SKIP_SUITES=e2e"
        else
            banner e2e "browser end-to-end against a real server, local agent and seats"
            if scripts/e2e.sh; then pass e2e; else fail e2e; fi
        fi
    fi

    if [[ -n $fuzz_pid ]]; then
        local fuzz_rc=0
        wait "$fuzz_pid" || fuzz_rc=$?
        banner fuzz "path resolution fuzzing (10 s), beside the suites above"
        suite_t0=$((SECONDS - $(cat "$side_dir/fuzz.secs" 2>/dev/null || echo 0)))
        cat "$side_dir/fuzz.out"
        if [[ $fuzz_rc == 0 ]]; then pass fuzz; else fail fuzz; fi
    fi

}
side_dir=$(mktemp -d)
trap 'rm -rf "$side_dir"' EXIT
# The binaries Go tests build for seats and restarts (internal/testbin: the
# workspace daemon in seven test packages, the agent, the server) are built
# once for the whole run, here, and copied into each package's tests.
export CLARATEACH_TESTBIN_DIR=$side_dir/testbin
mkdir -p "$CLARATEACH_TESTBIN_DIR"
# The e2e suite's binaries (make build: server, seat daemon, seat init,
# agent) are built before the Go suite starts: go test then finds most of
# its packages compiled instead of compiling them at the same time as the
# e2e suite's make build (two go commands building one package at once
# both do the work), and the e2e suite can run in the chain, alongside the
# Go tests, with nothing left to compile. The chain starts after it: on 2
# CPUs make build is CPU-bound, and with the chain's npm ci and vitest
# beside it it took 150-169 s instead of ~85 s, which the Go suite, the
# run's critical path, then waited for (two cold runs of 513 and 517 s,
# 2026-12-06, against 468-473 s before the chain moved; README).
if want e2e && [[ -f frontend/e2e/run.mjs && -z ${unmet[e2e]-} ]] && command -v npm >/dev/null; then
    b0=$SECONDS
    if make -s build; then
        echo "setup: make build for the e2e suite, before the Go suite ($(( SECONDS - b0 )) s)"
    else
        echo "setup: make build failed; the e2e suite fails with its output"
    fi
fi

side_pid=
if want fuzz || want frontend || want shell || want nginx || want deploy || want e2e; then
    (
        np=${#passed[@]} nf=${#failed[@]} ns=${#skipped[@]}
        suite_t0=$SECONDS
        side_suites >"$side_dir/out" 2>&1 || true
        for x in "${passed[@]:np}"; do printf '%s\0' "$x"; done >"$side_dir/passed"
        for x in "${failed[@]:nf}"; do printf '%s\0' "$x"; done >"$side_dir/failed"
        for x in "${skipped[@]:ns}"; do printf '%s\0' "$x"; done >"$side_dir/skipped"
    ) &
    side_pid=$!
    echo "(the frontend, shell, nginx, deploy and e2e suites run alongside the Go suite, one after another, and the fuzz run beside them; their output follows it)"
fi

# The Go packages whose tests take longest, longest first (a cold run on
# this machine kind, 2026-12-06: deploytest ~100 s, endtoend ~100 s, server
# ~90 s, sandbox ~80 s, reconcile ~60 s, store/postgres ~45 s); those that
# exist head go test's package list.
go_first=()
for p in internal/deploytest internal/endtoend internal/controlplane/server \
    internal/host/seatruntime/sandbox internal/controlplane/reconcile \
    internal/controlplane/store/postgres; do
    [[ -d backend/$p ]] && go_first+=("./$p")
done

if want go; then
    banner go "go test -vet=all ./... (backend: every vet analyzer, then the tests), a line per package as it finishes"
    if [[ $(id -u) != 0 ]]; then
        echo "note: not root — namespace, cgroup and network tests skip themselves (CI runs as root)"
    fi
    if [[ -n ${unmet[go]-} ]]; then
        fail go "${unmet[go]}"
    # -vet=all: go test runs go vet's whole analyzer set (what `go vet ./...`
    # runs, `make lint` too) on every package, with and without tests, test
    # files included; a finding fails that package and is printed. One action
    # graph then compiles each package once for vet and tests together, and
    # a package's tests start as soon as it is built and vetted, instead of
    # after a separate `go vet ./...` of the whole tree (~6 minutes cold).
    # Longest first: go test starts the test binaries in the order of its
    # package list (each run waits for the builds of every package before
    # it) and builds in that order too, so in ./...'s alphabetical order the
    # sandbox tests (~60-80 s, seats) started only once everything was
    # compiled and ran alone at the end. The packages whose tests take
    # longest (wall time: seats, PostgreSQL, the rootfs build, the
    # end-to-end server) are listed first, so they run while the rest
    # compiles; ./... adds the others (go test lists each package once).
    # -p 8: a running test binary holds one of go test's -p slots, and
    # these mostly wait; with six of them running, two slots are left for
    # compiling and linking (with -p 3 they would stop every compile). The
    # CPU a compile may use is capped by GOMAXPROCS, not by -p.
    elif (cd backend && $GO build -o /dev/null ./tools/testreport &&
        $GO test -vet=all -json -p 8 -timeout 25m -count=1 "${go_first[@]}" ./... | $GO run ./tools/testreport); then
        pass go
    else
        fail go
    fi
fi

# The side suites' output and results, once they are done.
if [[ -n $side_pid ]]; then
    wait "$side_pid" || true
    cat "$side_dir/out"
    if [[ -f $side_dir/skipped ]]; then
        mapfile -d '' -t side <"$side_dir/passed" && passed+=(${side[@]+"${side[@]}"})
        mapfile -d '' -t side <"$side_dir/failed" && failed+=(${side[@]+"${side[@]}"})
        mapfile -d '' -t side <"$side_dir/skipped" && skipped+=(${side[@]+"${side[@]}"})
    else
        fail side-suites "the fuzz, frontend, shell, nginx, deploy and e2e suites ended without a result"
    fi
fi

echo
echo "=== summary"
for s in "${passed[@]}"; do echo "  PASS  $s"; done
for s in "${failed[@]}"; do echo "  FAIL  $s"; done
for s in "${skipped[@]}"; do echo "  SKIP  $s"; done
echo "total time: $(( SECONDS - t0 )) s"
echo "suites: ${#passed[@]} passed, ${#failed[@]} failed, ${#skipped[@]} skipped"
[[ ${#failed[@]} == 0 ]]
