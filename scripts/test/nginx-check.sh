#!/usr/bin/env bash
# Checks the web app's nginx configuration the way the frontend image uses it:
# renders frontend/nginx.conf (a template) with envsubst, installs the
# security-headers snippet beside it in a throwaway prefix and runs `nginx -t`.
# Also checks the BACKEND_URL entrypoint hook. Needs nginx and envsubst
# (Debian: nginx, gettext-base). Touches nothing outside a temp directory.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/test/nginx-check.sh [--help]

Renders frontend/nginx.conf with BACKEND_URL=http://127.0.0.1:8080 (override
with the BACKEND_URL environment variable; the host must resolve here) into a
temporary nginx prefix and runs `nginx -t` on it, then checks that
frontend/docker/10-clarateach-backend-url.envsh accepts good BACKEND_URLs,
strips trailing slashes and rejects bad ones.
Exit status: 0 if all is well, 1 otherwise.
USAGE
}

case "${1-}" in
    -h | --help) usage; exit 0 ;;
    "") ;;
    *) echo "nginx-check: unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
frontend="$repo/frontend"

for c in nginx envsubst; do
    command -v "$c" >/dev/null 2>&1 || { echo "nginx-check: '$c' not found (apt-get install nginx gettext-base)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/conf.d" "$tmp/snippets" "$tmp/temp"

mime=/etc/nginx/mime.types
[[ -f $mime ]] || { echo "nginx-check: $mime not found" >&2; exit 1; }
cp "$mime" "$tmp/mime.types"

# The same main file shape as the nginx image's /etc/nginx/nginx.conf:
# conf.d/*.conf is included inside http {}.
cat >"$tmp/nginx.conf" <<CONF
worker_processes 1;
pid $tmp/nginx.pid;
events { worker_connections 64; }
http {
    include mime.types;
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path $tmp/temp/body;
    proxy_temp_path $tmp/temp/proxy;
    fastcgi_temp_path $tmp/temp/fastcgi;
    uwsgi_temp_path $tmp/temp/uwsgi;
    scgi_temp_path $tmp/temp/scgi;
    include conf.d/*.conf;
}
CONF

export BACKEND_URL=${BACKEND_URL:-http://127.0.0.1:8080}
# The same rendering as the image's 20-envsubst-on-templates.sh with our filter.
# shellcheck disable=SC2016 # the literal ${BACKEND_URL} is envsubst's argument
envsubst '${BACKEND_URL}' <"$frontend/nginx.conf" >"$tmp/conf.d/default.conf"
cp "$frontend/security-headers.conf" "$tmp/snippets/clarateach-security-headers.conf"

# shellcheck disable=SC2016 # a literal, unrendered ${BACKEND_URL}
if grep -nF '${BACKEND_URL}' "$tmp/conf.d/default.conf"; then
    echo "nginx-check: BACKEND_URL was not substituted" >&2
    exit 1
fi

echo "nginx-check: nginx -t with BACKEND_URL=$BACKEND_URL"
nginx -t -q -p "$tmp/" -c "$tmp/nginx.conf" -e stderr

# The entrypoint hook (sourced by the image's /docker-entrypoint.sh).
hook="$frontend/docker/10-clarateach-backend-url.envsh"
fail=0
check_hook() { # input expected-output-or-FAIL
    local got
    if got=$(BACKEND_URL="$1" sh -c '. "$1" && printf %s "$BACKEND_URL"' sh "$hook" 2>/dev/null); then
        :
    else
        got=FAIL
    fi
    if [[ $got != "$2" ]]; then
        echo "nginx-check: hook: BACKEND_URL='$1' gave '$got', want '$2'" >&2
        fail=1
    fi
}
check_hook "https://clarateach-backend-1.us-central1.run.app" "https://clarateach-backend-1.us-central1.run.app"
check_hook "https://clarateach-backend-1.us-central1.run.app/" "https://clarateach-backend-1.us-central1.run.app"
check_hook "http://127.0.0.1:8080//" "http://127.0.0.1:8080"
check_hook "" FAIL
check_hook "clarateach-backend:8080" FAIL
check_hook "http://backend:8080/api" FAIL
[[ $fail == 0 ]] || exit 1
echo "nginx-check: ok"
