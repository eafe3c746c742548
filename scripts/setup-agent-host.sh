#!/usr/bin/env bash
# Turn a fresh Debian/Ubuntu GCE VM (with nested virtualization) into a
# ClaraTeach workshop host: Firecracker + jailer (pinned, checksummed), the
# guest kernel and root filesystem, the agent, its systemd units, IP
# forwarding and the seat firewall. Idempotent: a second run changes nothing
# and says so.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=SCRIPTDIR/lib/common.sh
. "$here/lib/common.sh"

# Pinned Firecracker release. The checksum is the release archive's SHA-256
# (the release publishes it as firecracker-VERSION-x86_64.tgz.sha256.txt).
# To upgrade: change both, and check the new sum against that file.
FC_VERSION_PINNED=v1.17.0
FC_SHA256_PINNED=06094a1108ae9e82aa4c23a775aa92758f53f1175d422270d9d6162cb9ade558
FC_URL_BASE=https://github.com/firecracker-microvm/firecracker/releases/download

PACKAGES=(iptables iproute2 e2fsprogs curl ca-certificates)

usage() {
    cat <<'USAGE'
Usage: sudo scripts/setup-agent-host.sh [options]

Installs, on this machine (or under --root DIR):
  /usr/local/bin/firecracker, /usr/local/bin/jailer   pinned release, SHA-256 checked
  /var/lib/clarateach/images/vmlinux                   guest kernel (--kernel)
  /var/lib/clarateach/images/rootfs.ext4               guest root filesystem (--rootfs,
                                                       from scripts/build-rootfs.sh)
  /usr/local/bin/agent                                 the agent (--agent, e.g.
                                                       backend/agent-linux)
  /etc/systemd/system/clarateach-agent.service         from deploy/, enabled
  /etc/systemd/system/clarateach-host.service          from deploy/, enabled
  /usr/local/lib/clarateach/host-firewall.sh           seat firewall (run at boot)
  /etc/sysctl.d/60-clarateach.conf                     IP forwarding, bridge netfilter
  /etc/modules-load.d/clarateach.conf                  tun, br_netfilter
and, on the live system only: the packages it needs (iptables iproute2
e2fsprogs curl ca-certificates), the sysctls and modules now, the firewall
now, and starts (or restarts, when something changed) the units.

Every step compares first and only acts on a difference. The last line is
"setup-agent-host: no changes" or "setup-agent-host: N change(s)".

Nothing secret is installed. Each workshop VM made from this image gets, in
its instance metadata, its own agent token (agent-token), workspace-token
key (workspace-key) and TLS key pair (agent-tls-cert, agent-tls-key): the
control plane makes a self-signed ECDSA certificate per VM, pins it, and
reaches the agent only at https://IP:9090. The agent reads them at start-up
and refuses to serve plain HTTP on a non-loopback address, so this base VM's
agent (no metadata) does not serve until a workshop VM boots from the image.
AGENT_TLS_CERT/AGENT_TLS_KEY in /etc/clarateach/agent.env (PEM file paths)
override the metadata.

Options:
  --agent FILE                 agent binary to install (required the first time)
  --kernel FILE                guest kernel, uncompressed vmlinux (required the first time)
  --rootfs FILE                guest ext4 image (required the first time)
  --firecracker-tarball FILE   use this release archive instead of downloading it
  --firecracker-version V      release to install (default: the pinned one)
  --firecracker-sha256 SUM     its archive checksum (required with another version)
  --root DIR                   install under DIR instead of /; skips everything that
                               acts on the live system (packages, sysctl, modules,
                               firewall, systemctl). For tests and image builds.
  --skip-packages              do not apt-get install anything
  --skip-kvm-check             do not require /dev/kvm
  --dry-run                    say what would change, change nothing
  -h, --help                   this help
USAGE
}

ROOT=/
AGENT=
KERNEL=
ROOTFS=
FC_TARBALL=
FC_VERSION=$FC_VERSION_PINNED
FC_SHA256=
SKIP_PACKAGES=0
SKIP_KVM=0

while [[ $# -gt 0 ]]; do
    case "$1" in
        --agent) require_value "$1" "${2-}"; AGENT=$2; shift 2 ;;
        --kernel) require_value "$1" "${2-}"; KERNEL=$2; shift 2 ;;
        --rootfs) require_value "$1" "${2-}"; ROOTFS=$2; shift 2 ;;
        --firecracker-tarball) require_value "$1" "${2-}"; FC_TARBALL=$2; shift 2 ;;
        --firecracker-version) require_value "$1" "${2-}"; FC_VERSION=$2; shift 2 ;;
        --firecracker-sha256) require_value "$1" "${2-}"; FC_SHA256=$2; shift 2 ;;
        --root) require_value "$1" "${2-}"; ROOT=$2; shift 2 ;;
        --skip-packages) SKIP_PACKAGES=1; shift ;;
        --skip-kvm-check) SKIP_KVM=1; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
done

if [[ -z $FC_SHA256 ]]; then
    [[ $FC_VERSION == "$FC_VERSION_PINNED" ]] ||
        die "--firecracker-version $FC_VERSION needs --firecracker-sha256 (the release's .sha256.txt)"
    FC_SHA256=$FC_SHA256_PINNED
fi
[[ $FC_SHA256 =~ ^[0-9a-f]{64}$ ]] || die "--firecracker-sha256 must be 64 hex digits"
[[ $FC_VERSION =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--firecracker-version must look like v1.2.3"

[[ -d $ROOT ]] || die "--root $ROOT is not a directory"
ROOT=$(cd "$ROOT" && pwd)
LIVE=0
[[ $ROOT == / ]] && LIVE=1
R=${ROOT%/} # prefix for paths: "" on the live system

[[ $(id -u) == 0 || $LIVE == 0 || $DRY_RUN == 1 ]] || die "run as root (sudo), or use --root DIR / --dry-run"
need_cmd sha256sum install cmp tar

for f in "$AGENT" "$KERNEL" "$ROOTFS" "$FC_TARBALL"; do
    [[ -z $f || -f $f ]] || die "no such file: $f"
done

CHANGES=0
changed() { # what
    CHANGES=$((CHANGES + 1))
    if [[ $DRY_RUN == 1 ]]; then
        log "would change: $*"
    else
        log "changed: $*"
    fi
}

mode_of() { stat -c %a "$1"; }

# install_file SRC DEST MODE: copy when content or mode differ.
install_file() {
    local src=$1 dest=$2 mode=$3
    if [[ -f $R$dest ]] && cmp -s "$src" "$R$dest" && [[ $(mode_of "$R$dest") == "${mode#0}" ]]; then
        return 0
    fi
    changed "install $dest"
    [[ $DRY_RUN == 1 ]] && return 0
    install -D -m "$mode" "$src" "$R$dest.clarateach-new"
    mv -f "$R$dest.clarateach-new" "$R$dest"
}

# write_file DEST MODE <<<content
write_file() {
    local dest=$1 mode=$2 tmp
    tmp=$(mktemp)
    cat >"$tmp"
    install_file "$tmp" "$dest" "$mode"
    rm -f "$tmp"
}

# ensure_link TARGET LINK: a symlink LINK -> TARGET.
ensure_link() {
    local target=$1 link=$2
    if [[ -L $R$link && $(readlink "$R$link") == "$target" ]]; then
        return 0
    fi
    changed "link $link -> $target"
    [[ $DRY_RUN == 1 ]] && return 0
    mkdir -p "$(dirname "$R$link")"
    ln -sfn "$target" "$R$link"
}

# require_present DEST FLAG: a file that must be given the first time.
require_present() {
    [[ -f $R$1 ]] || die "$1 is not installed yet: pass $2 FILE"
}

# --- checks on the live system ---------------------------------------------
if [[ $LIVE == 1 ]]; then
    [[ $(uname -m) == x86_64 ]] || die "only x86_64 hosts are supported (pinned Firecracker build), this is $(uname -m)"
    if [[ $SKIP_KVM == 0 && ! -c /dev/kvm ]]; then
        die "/dev/kvm is missing: create the VM with nested virtualization (gcloud compute instances create ... --enable-nested-virtualization) on an Intel machine type, or pass --skip-kvm-check"
    fi
fi

# --- packages ----------------------------------------------------------------
if [[ $LIVE == 1 && $SKIP_PACKAGES == 0 ]]; then
    missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        changed "apt-get install ${missing[*]}"
        if [[ $DRY_RUN != 1 ]]; then
            need_cmd apt-get
            DEBIAN_FRONTEND=noninteractive apt-get update -q
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
        fi
    fi
fi

# --- Firecracker and jailer ----------------------------------------------------
stamp=/usr/local/lib/clarateach/firecracker.release
want_stamp="$FC_VERSION $FC_SHA256"
if [[ -f $R$stamp && $(cat "$R$stamp") == "$want_stamp" && -x $R/usr/local/bin/firecracker && -x $R/usr/local/bin/jailer ]]; then
    : # this release is installed
else
    work=$(mktemp -d)
    # shellcheck disable=SC2064 # expand now: work is local to this block
    trap "rm -rf '$work'" EXIT
    tgz=$FC_TARBALL
    if [[ -z $tgz ]]; then
        url="$FC_URL_BASE/$FC_VERSION/firecracker-$FC_VERSION-x86_64.tgz"
        if [[ $DRY_RUN == 1 ]]; then
            log "would download $url"
        else
            need_cmd curl
            log "downloading $url"
            curl -fsSL --retry 3 -o "$work/fc.tgz" "$url" || die "download failed: $url"
        fi
        tgz=$work/fc.tgz
    fi
    if [[ -f $tgz ]]; then
        got=$(sha256sum "$tgz" | cut -d' ' -f1)
        [[ $got == "$FC_SHA256" ]] ||
            die "checksum mismatch for Firecracker $FC_VERSION: got $got, want $FC_SHA256 (refusing to install)"
        rel="release-$FC_VERSION-x86_64"
        tar -xzf "$tgz" -C "$work" "$rel/firecracker-$FC_VERSION-x86_64" "$rel/jailer-$FC_VERSION-x86_64" ||
            die "$tgz does not hold $rel/firecracker-$FC_VERSION-x86_64 and jailer"
        install_file "$work/$rel/firecracker-$FC_VERSION-x86_64" /usr/local/bin/firecracker 0755
        install_file "$work/$rel/jailer-$FC_VERSION-x86_64" /usr/local/bin/jailer 0755
    else
        changed "install /usr/local/bin/firecracker and /usr/local/bin/jailer ($FC_VERSION)"
    fi
    write_file "$stamp" 0644 <<<"$want_stamp"
    rm -rf "$work"
    trap - EXIT
fi

# --- guest kernel, rootfs, agent ------------------------------------------------
if [[ -n $KERNEL ]]; then install_file "$KERNEL" /var/lib/clarateach/images/vmlinux 0644; else require_present /var/lib/clarateach/images/vmlinux --kernel; fi
if [[ -n $ROOTFS ]]; then install_file "$ROOTFS" /var/lib/clarateach/images/rootfs.ext4 0644; else require_present /var/lib/clarateach/images/rootfs.ext4 --rootfs; fi
agent_before=$(sha256sum "$R/usr/local/bin/agent" 2>/dev/null || true)
if [[ -n $AGENT ]]; then install_file "$AGENT" /usr/local/bin/agent 0755; else require_present /usr/local/bin/agent --agent; fi

# --- systemd units, firewall script ------------------------------------------
unit_sums() {
    local f
    for f in /etc/systemd/system/clarateach-agent.service /etc/systemd/system/clarateach-host.service \
        /usr/local/lib/clarateach/host-firewall.sh; do
        if [[ -f $R$f ]]; then sha256sum <"$R$f"; else echo "absent $f"; fi
    done
}
units_before=$(unit_sums)
install_file "$repo/deploy/clarateach-agent.service" /etc/systemd/system/clarateach-agent.service 0644
install_file "$repo/deploy/clarateach-host.service" /etc/systemd/system/clarateach-host.service 0644
install_file "$here/lib/host-firewall.sh" /usr/local/lib/clarateach/host-firewall.sh 0755
# `systemctl enable` for WantedBy=multi-user.target, done by hand so it also
# works under --root.
ensure_link /etc/systemd/system/clarateach-host.service /etc/systemd/system/multi-user.target.wants/clarateach-host.service
ensure_link /etc/systemd/system/clarateach-agent.service /etc/systemd/system/multi-user.target.wants/clarateach-agent.service
units_after=$(unit_sums)

# --- kernel settings -------------------------------------------------------------
write_file /etc/modules-load.d/clarateach.conf 0644 <<'CONF'
# ClaraTeach workshop host (scripts/setup-agent-host.sh)
# TAP devices for the seats' microVMs.
tun
# Lets iptables see bridged seat-to-seat frames (net.bridge.bridge-nf-call-iptables).
br_netfilter
CONF
write_file /etc/sysctl.d/60-clarateach.conf 0644 <<'CONF'
# ClaraTeach workshop host (scripts/setup-agent-host.sh)
# Seats (192.168.100.0/24 on fcbr0) reach the internet through NAT.
net.ipv4.ip_forward = 1
# Bridged frames between seats pass the FORWARD chain, where they are dropped.
net.bridge.bridge-nf-call-iptables = 1
CONF

if [[ $LIVE == 1 ]]; then
    for m in tun br_netfilter; do
        if [[ ! -d /sys/module/$m ]]; then
            changed "modprobe $m"
            [[ $DRY_RUN == 1 ]] || modprobe "$m"
        fi
    done
    for kv in net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1; do
        k=${kv%%=*} v=${kv#*=}
        if [[ $(sysctl -n "$k" 2>/dev/null) != "$v" ]]; then
            changed "sysctl $kv"
            [[ $DRY_RUN == 1 ]] || sysctl -q -w "$kv"
        fi
    done
    if ! /usr/local/lib/clarateach/host-firewall.sh check 2>/dev/null; then
        changed "seat firewall (host-firewall.sh apply)"
        [[ $DRY_RUN == 1 ]] || /usr/local/lib/clarateach/host-firewall.sh apply
    fi
    if [[ -d /run/systemd/system ]]; then
        if [[ $units_before != "$units_after" ]]; then
            run systemctl daemon-reload
        fi
        if ! systemctl is-active --quiet clarateach-host.service; then
            changed "start clarateach-host"
            run systemctl start clarateach-host.service
        fi
        agent_after=$(sha256sum /usr/local/bin/agent 2>/dev/null || true)
        if [[ $agent_before != "$agent_after" || $units_before != "$units_after" ]]; then
            # A restart keeps running seats (KillMode=process).
            if systemctl is-active --quiet clarateach-agent.service; then
                log "restarting clarateach-agent (binary or unit changed)"
                run systemctl restart clarateach-agent.service
            fi
        fi
        if ! systemctl is-active --quiet clarateach-agent.service; then
            changed "start clarateach-agent"
            run systemctl start clarateach-agent.service
        fi
    else
        warn "systemd is not running: start the agent with 'systemctl start clarateach-agent' on boot"
    fi
else
    log "--root $ROOT: packages, modules, sysctls, firewall and systemctl were left alone"
fi

if [[ $CHANGES == 0 ]]; then
    echo "setup-agent-host: no changes"
elif [[ $DRY_RUN == 1 ]]; then
    echo "setup-agent-host: $CHANGES change(s) would be made"
else
    echo "setup-agent-host: $CHANGES change(s)"
fi
