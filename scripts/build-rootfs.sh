#!/usr/bin/env bash
# Build the seats' guest root filesystem: a Debian system (debootstrap) with
# the workspace daemon, ClaraTeach's init (networking from the kernel command
# line, the daemon under a supervisor), an unprivileged learner user and the
# packages learners need, as an ext4 image for Firecracker.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=SCRIPTDIR/lib/common.sh
. "$here/lib/common.sh"

DEFAULT_PACKAGES="git python3 nodejs build-essential curl ca-certificates"
# What the init and the daemon need, whatever --packages says.
BASE_PACKAGES="iproute2 util-linux procps bash less nano"

usage() {
    cat <<USAGE
Usage: sudo scripts/build-rootfs.sh [options]

Builds an ext4 image (default ./rootfs.ext4) holding:
  /usr/local/bin/clarateach-workspace   the workspace daemon (static)
  /sbin/clarateach-init, /sbin/init      PID 1: mounts, eth0 from ip=, the
                                         daemon under a restart loop
  /etc/clarateach/workspace.conf         the init's settings (user, listen
                                         address, workspace root, restart delay)
  user learner (uid 1000)                runs the daemon and every terminal
and the packages: $BASE_PACKAGES + the --packages list.

Options:
  --output PATH          image to write [default ./rootfs.ext4]
  --size SIZE            image size, as mkfs.ext4 takes it [default 2G]
  --packages LIST        packages for learners, comma or space separated
                         [default: $DEFAULT_PACKAGES]; "" for none
  --suite NAME           Debian release [default bookworm]
  --mirror URL           Debian mirror [default: the one in /etc/apt/sources.list*]
  --workspace-bin FILE   daemon binary [default: built from backend/cmd/workspace]
  --listen ADDR          daemon listen address in the guest [default tcp:0.0.0.0:7681]
  --cache-dir DIR        debootstrap's package cache, and the packages of each
                         list as a debootstrap tarball while the mirror's
                         Release is unchanged [default /var/cache/clarateach/debootstrap]
  -h, --help             this help

Needs root, debootstrap and e2fsprogs (mkfs.ext4 -d: no loop mount), and Go
unless --workspace-bin is given.
USAGE
}

OUTPUT=./rootfs.ext4
SIZE=2G
PACKAGES=$DEFAULT_PACKAGES
SUITE=bookworm
MIRROR=
WORKSPACE_BIN=
LISTEN=tcp:0.0.0.0:7681
CACHE_DIR=/var/cache/clarateach/debootstrap

while [[ $# -gt 0 ]]; do
    case "$1" in
        --output) require_value "$1" "${2-}"; OUTPUT=$2; shift 2 ;;
        --size) require_value "$1" "${2-}"; SIZE=$2; shift 2 ;;
        --packages) [[ $# -ge 2 ]] || die "--packages needs a value"; PACKAGES=$2; shift 2 ;;
        --suite) require_value "$1" "${2-}"; SUITE=$2; shift 2 ;;
        --mirror) require_value "$1" "${2-}"; MIRROR=$2; shift 2 ;;
        --workspace-bin) require_value "$1" "${2-}"; WORKSPACE_BIN=$2; shift 2 ;;
        --listen) require_value "$1" "${2-}"; LISTEN=$2; shift 2 ;;
        --cache-dir) require_value "$1" "${2-}"; CACHE_DIR=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
done

[[ $(id -u) == 0 ]] || die "must run as root (debootstrap and chroot need it)"
need_cmd debootstrap mkfs.ext4 e2fsck chroot
[[ $SIZE =~ ^[0-9]+[KMGT]?$ ]] || die "--size wants a number with an optional K/M/G/T suffix, got '$SIZE'"
[[ $LISTEN =~ ^(tcp:[^[:space:]]+|unix:/[^[:space:]]+)$ ]] || die "--listen wants tcp:HOST:PORT or unix:/path, got '$LISTEN'"
PACKAGES=${PACKAGES//,/ }
for p in $PACKAGES; do
    [[ $p =~ ^[a-z0-9][a-z0-9+.-]+$ ]] || die "not a Debian package name: '$p'"
done

# The Debian mirror this machine uses: deb822 .sources first, then
# one-line sources.list entries.
detect_mirror() {
    local f uri="" suites="" line
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        while IFS= read -r line || [[ -n $line ]]; do
            case "$line" in
                URIs:*) uri=$(awk '{print $2}' <<<"$line") ;;
                Suites:*) suites=${line#Suites:} ;;
                "")
                    if [[ -n $uri && " $suites " == *" $SUITE "* ]]; then echo "$uri"; return 0; fi
                    uri="" suites=""
                    ;;
            esac
        done <"$f"
        if [[ -n $uri && " $suites " == *" $SUITE "* ]]; then echo "$uri"; return 0; fi
        uri="" suites=""
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $f ]] || continue
        uri=$(awk -v s="$SUITE" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { if ($(i+1) == s) { print $i; exit } break } }' "$f")
        if [[ -n $uri ]]; then echo "$uri"; return 0; fi
    done
    echo http://deb.debian.org/debian
}
[[ -n $MIRROR ]] || MIRROR=$(detect_mirror)

work=$(mktemp -d "${TMPDIR:-/var/tmp}/clarateach-rootfs.XXXXXX")
tree=$work/root
cleanup() {
    # debootstrap mounts /proc and /sys in the tree; never leave them behind.
    local m
    if command -v findmnt >/dev/null 2>&1; then
        { findmnt -rn -o TARGET | grep -F "$tree" | sort -r || true; } | while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done
    fi
    if findmnt -rn -o TARGET | grep -qF "$tree"; then
        warn "left $work in place: something is still mounted under it"
        return
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# --- the daemon -------------------------------------------------------------
if [[ -z $WORKSPACE_BIN ]]; then
    need_cmd go
    log "building the workspace daemon (CGO_ENABLED=0, linux/amd64)"
    (cd "$repo/backend" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags='-s -w' -o "$work/clarateach-workspace" ./cmd/workspace)
    WORKSPACE_BIN=$work/clarateach-workspace
fi
[[ -f $WORKSPACE_BIN ]] || die "no such file: $WORKSPACE_BIN"

# --- Debian -----------------------------------------------------------------
include=$(tr ' ' ',' <<<"$BASE_PACKAGES $PACKAGES" | tr -s ',' | sed 's/^,//; s/,$//')
mkdir -p "$CACHE_DIR"
debootstrap_or_die() {
    debootstrap --variant=minbase --include="$include" --cache-dir="$CACHE_DIR" "$@" >"$work/debootstrap.log" 2>&1 || {
        tail -n 30 "$work/debootstrap.log" >&2
        die "debootstrap failed (full log above, last 30 lines)"
    }
}
# debootstrap's first half (the suite's package indices, resolving the
# package list's dependencies, checking every .deb against the indices:
# ~25 CPU-seconds) depends only on the mirror's signed Release file and the
# package list. Its result, a debootstrap tarball (--make-tarball: the
# indices and the .debs), is kept in the cache dir under a name made of
# both and unpacked (--unpack-tarball) while the mirror's Release is the
# same; the install itself runs in full every time. Without the Release
# (mirror unreachable), debootstrap runs from the start.
CACHE_DIR=$(cd "$CACHE_DIR" && pwd)
release=$(wget -q -O - "$MIRROR/dists/$SUITE/InRelease" 2>/dev/null | sha256sum | cut -c1-16) || release=
if [[ -n $release ]]; then
    list=$(printf '%s\n' "$MIRROR" "$SUITE" "$include" | sha256sum | cut -c1-16)
    tarball=$CACHE_DIR/$SUITE-$list-$release.tgz
    if [[ ! -s $tarball ]]; then
        log "debootstrap $SUITE from $MIRROR (minbase + $include): the packages, kept as $tarball"
        rm -f "$CACHE_DIR/$SUITE-$list"-*.tgz # the same list from an older Release
        debootstrap_or_die --make-tarball="$tarball.tmp$$" "$SUITE" "$work/dl" "$MIRROR"
        mv -f "$tarball.tmp$$" "$tarball"
    fi
    log "debootstrap $SUITE: installing from $tarball"
    debootstrap_or_die --unpack-tarball="$tarball" "$SUITE" "$tree" "$MIRROR"
else
    log "debootstrap $SUITE from $MIRROR (minbase + $include)"
    debootstrap_or_die "$SUITE" "$tree" "$MIRROR"
fi

# --- ClaraTeach ---------------------------------------------------------------
log "installing the daemon, init and learner user"
install -D -m 0755 "$WORKSPACE_BIN" "$tree/usr/local/bin/clarateach-workspace"
install -D -m 0755 "$here/rootfs/clarateach-init" "$tree/sbin/clarateach-init"
ln -sfn clarateach-init "$tree/sbin/init"
install -d -m 0755 "$tree/etc/clarateach"
cat >"$tree/etc/clarateach/workspace.conf" <<CONF
# ClaraTeach seat settings, read by /sbin/clarateach-init at boot.
# Kernel command line overrides: clarateach.listen=ADDR clarateach.data=DEV|none
WORKSPACE_BIN=/usr/local/bin/clarateach-workspace
WORKSPACE_USER=learner
WORKSPACE_LISTEN=$LISTEN
WORKSPACE_ROOT=/home/learner/workspace
WORKSPACE_SHELL=/bin/bash
# Seconds before restarting the daemon; doubles (to 30) while it keeps failing.
RESTART_DELAY=1
# The seat's writable disk, mounted on /home ("none": the root is writable).
DATA_DEVICE=/dev/vdb
# Used when ip= names no DNS server.
DEFAULT_DNS="1.1.1.1 8.8.8.8"
CONF
chmod 0644 "$tree/etc/clarateach/workspace.conf"

chroot "$tree" /usr/sbin/useradd --create-home --uid 1000 --user-group --shell /bin/bash \
    --comment "ClaraTeach learner" learner
install -d -o 1000 -g 1000 -m 0755 "$tree/home/learner/workspace"

echo seat >"$tree/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$tree/etc/hosts"
# The root is mounted read-only; the init writes /run/resolv.conf.
ln -sfn /run/resolv.conf "$tree/etc/resolv.conf"
printf '/dev/vda\t/\text4\tro,noatime\t0\t1\n' >"$tree/etc/fstab"
: >"$tree/etc/machine-id"

# Smaller image: no package lists or caches.
chroot "$tree" /usr/bin/apt-get clean
rm -rf "$tree"/var/lib/apt/lists/* "$tree"/var/cache/apt/*.bin "$tree"/var/log/*.log "$tree"/tmp/* "$tree"/var/tmp/*

# --- the image ------------------------------------------------------------------
out_dir=$(dirname "$OUTPUT")
mkdir -p "$out_dir"
log "writing $OUTPUT ($SIZE ext4)"
rm -f "$OUTPUT.tmp"
mkfs.ext4 -q -F -L clarateach-root -d "$tree" "$OUTPUT.tmp" "$SIZE" >"$work/mkfs.log" 2>&1 || {
    cat "$work/mkfs.log" >&2
    die "mkfs.ext4 failed (is --size $SIZE big enough? the tree is $(du -sh "$tree" | cut -f1))"
}
e2fsck -fn "$OUTPUT.tmp" >/dev/null 2>&1 || die "the new image does not pass e2fsck"
mv -f "$OUTPUT.tmp" "$OUTPUT"
log "done: $OUTPUT ($(du -h --apparent-size "$OUTPUT" | cut -f1) apparent, $(du -h "$OUTPUT" | cut -f1) on disk; tree $(du -sh "$tree" | cut -f1))"
