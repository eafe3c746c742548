# shellcheck shell=bash
# Helpers shared by the ClaraTeach scripts. Source it; do not run it.
#
#   log "message"          progress on stderr
#   warn "message"         warning on stderr
#   die "message"          error on stderr, exit 1
#   run CMD ARGS...        run a command, or only print it when DRY_RUN=1
#   print_cmd CMD ARGS...  print a command as a copy-pastable shell line
#   need_cmd NAME...       fail clearly if a program is missing
#   require_value FLAG "$@" fail unless FLAG has a value

DRY_RUN=${DRY_RUN:-0}

_ct_prog=$(basename "${0:-clarateach}")

log() { printf '%s: %s\n' "$_ct_prog" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$_ct_prog" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$_ct_prog" "$*" >&2
    exit 1
}

# print_cmd quotes each argument only when it needs it, so the line can be
# pasted into a shell.
print_cmd() {
    local out="" a
    for a in "$@"; do
        if [[ $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
            out+="$a "
        else
            out+="$(printf '%q' "$a") "
        fi
    done
    printf '%s\n' "${out% }"
}

run() {
    if [[ $DRY_RUN == 1 ]]; then
        print_cmd "$@"
        return 0
    fi
    "$@"
}

need_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || die "'$c' is required but was not found in PATH"
    done
}

# require_value FLAG NEXT: used as `require_value "$1" "${2-}"` in option loops.
require_value() {
    [[ -n ${2-} && ${2-} != --* ]] || die "$1 needs a value (see --help)"
}
