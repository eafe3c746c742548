#!/usr/bin/env bash
# Checks deploy/prometheus/alerts.yml with promtool (syntax, and the unit
# tests in alerts_test.yml). promtool comes from PATH, $PROMTOOL, or Debian's
# prometheus package, unpacked (not installed: installing would start a
# Prometheus server) into .cache/promtool.
set -euo pipefail

case "${1-}" in
    -h | --help)
        echo "Usage: scripts/test/promtool-test.sh"
        echo "Runs promtool check rules and promtool test rules on deploy/prometheus/."
        exit 0
        ;;
    "") ;;
    *) echo "promtool-test: unknown argument: $1" >&2; exit 2 ;;
esac

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pt=${PROMTOOL:-}
[[ -n $pt ]] || pt=$(command -v promtool || true)
if [[ -z $pt ]]; then
    cache="$repo/.cache/promtool"
    pt="$cache/usr/bin/promtool"
    if [[ ! -x $pt ]]; then
        command -v apt-get >/dev/null || { echo "promtool-test: no promtool and no apt-get" >&2; exit 1; }
        echo "promtool-test: unpacking promtool from Debian's prometheus package into $cache"
        dl=$(mktemp -d)
        trap 'rm -rf "$dl"' EXIT
        (cd "$dl" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get download prometheus; }; })
        mkdir -p "$cache"
        dpkg-deb -x "$dl"/prometheus_*.deb "$cache"
    fi
fi
cd "$repo/deploy/prometheus"
"$pt" check rules alerts.yml
"$pt" test rules alerts_test.yml
echo "promtool-test: ok"
