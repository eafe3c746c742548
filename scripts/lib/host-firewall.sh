#!/usr/bin/env bash
# ClaraTeach workshop host firewall: keeps Firecracker seats away from each
# other, from the host itself (the agent's port included) and from the cloud
# metadata server, and gives them NAT egress.
#
# Installed as /usr/local/lib/clarateach/host-firewall.sh by
# scripts/setup-agent-host.sh and run at boot by clarateach-host.service.
# These are exactly the chains and rules of the agent's Firecracker runtime
# (backend/internal/host/seatruntime/firecracker/hostnet); the agent re-asserts them
# when it starts. A test (backend/internal/deploytest) checks both agree.
#
#   host-firewall.sh apply    create/refresh the chains and hook them in (idempotent)
#   host-firewall.sh check    exit 0 if every rule and hook is in place, 1 if not
#   host-firewall.sh remove   unhook and delete the chains
#   host-firewall.sh print    print the iptables-restore input that apply loads
#
# Environment: CLARATEACH_BRIDGE (default fcbr0),
#              CLARATEACH_SUBNET (default 192.168.100.0/24),
#              CLARATEACH_UPLINK (default empty: NAT out of any interface but the bridge).
set -euo pipefail

BRIDGE=${CLARATEACH_BRIDGE:-fcbr0}
SUBNET=${CLARATEACH_SUBNET:-192.168.100.0/24}
UPLINK=${CLARATEACH_UPLINK:-}
# Where seats may never connect (the agent's egress.Blocked, in its order):
# every private, shared, loopback, link-local (the metadata server),
# multicast and reserved range. The public internet stays open.
BLOCKED=(0.0.0.0/8 10.0.0.0/8 100.64.0.0/10 127.0.0.0/8 169.254.0.0/16 172.16.0.0/12
    192.0.0.0/24 192.88.99.0/24 192.168.0.0/16 198.18.0.0/15 224.0.0.0/4 240.0.0.0/4)
IN=CLARATEACH-FC-IN
FWD=CLARATEACH-FC-FWD
NAT=CLARATEACH-FC-NAT
# The agent's per-seat allowlist (a workshop's lab servers). Created here,
# filled and emptied only by the agent: apply never empties it.
ALLOW=CLARATEACH-FC-ALLOW

usage() {
    echo "Usage: host-firewall.sh apply|check|remove|print"
    echo
    sed -n '2,20p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//'
}

rules() {
    local nat_out="! -o $BRIDGE" cidr blocked=""
    [[ -n $UPLINK ]] && nat_out="-o $UPLINK"
    for cidr in "${BLOCKED[@]}"; do
        blocked+="-A $FWD -i $BRIDGE -d $cidr -j DROP"$'\n'
    done
    cat <<RULES
*filter
:$IN - [0:0]
:$FWD - [0:0]
-A $IN -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A $IN -j DROP
-A $FWD -i $BRIDGE -o $BRIDGE -j DROP
-A $FWD -i $BRIDGE -j $ALLOW
${blocked%$'\n'}
-A $FWD -o $BRIDGE -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A $FWD -o $BRIDGE -j DROP
-A $FWD -i $BRIDGE -j ACCEPT
COMMIT
*nat
:$NAT - [0:0]
-A $NAT $nat_out -j MASQUERADE
COMMIT
RULES
}

# jumps prints "table chain match..." lines: how our chains hook in.
jumps() {
    cat <<JUMPS
filter INPUT -i $BRIDGE -j $IN
filter FORWARD -i $BRIDGE -j $FWD
filter FORWARD -o $BRIDGE -j $FWD
nat POSTROUTING -s $SUBNET -j $NAT
JUMPS
}

apply() {
    # --noflush: declare (create or empty) only our chains and fill them in
    # one transaction; everything else in the tables is left alone.
    iptables -w -t filter -S "$ALLOW" >/dev/null 2>&1 || iptables -w -t filter -N "$ALLOW"
    rules | iptables-restore -w --noflush
    local table chain match
    while read -r table chain match; do
        # shellcheck disable=SC2086 # match is a list of words
        if ! iptables -w -t "$table" -C "$chain" $match 2>/dev/null; then
            # shellcheck disable=SC2086
            iptables -w -t "$table" -I "$chain" 1 $match
        fi
    done < <(jumps)
}

# check: every rule of rules() present with nothing extra in our chains, and
# every hook in place.
check() {
    local table="" line chain spec want have
    local -A count=()
    while read -r line; do
        case "$line" in
            \*filter) table=filter ;;
            \*nat) table=nat ;;
            -A\ *)
                read -r _ chain spec <<<"$line"
                # shellcheck disable=SC2086 # spec is a list of words
                iptables -w -t "$table" -C "$chain" $spec 2>/dev/null || return 1
                count["$table $chain"]=$((${count["$table $chain"]:-0} + 1))
                ;;
        esac
    done < <(rules)
    for spec in "${!count[@]}"; do
        read -r table chain <<<"$spec"
        want=${count[$spec]}
        have=$(iptables -w -t "$table" -S "$chain" 2>/dev/null | grep -c '^-A ') || return 1
        [[ $have == "$want" ]] || return 1
    done
    local match
    while read -r table chain match; do
        # shellcheck disable=SC2086
        iptables -w -t "$table" -C "$chain" $match 2>/dev/null || return 1
    done < <(jumps)
}

remove() {
    local table chain match i
    while read -r table chain match; do
        for ((i = 0; i < 16; i++)); do
            # shellcheck disable=SC2086
            iptables -w -t "$table" -D "$chain" $match 2>/dev/null || break
        done
    done < <(jumps)
    for spec in "filter $IN" "filter $FWD" "filter $ALLOW" "nat $NAT"; do
        read -r table chain <<<"$spec"
        if iptables -w -t "$table" -S "$chain" >/dev/null 2>&1; then
            iptables -w -t "$table" -F "$chain"
            iptables -w -t "$table" -X "$chain"
        fi
    done
}

case "${1-}" in
    apply) apply ;;
    check) check ;;
    remove) remove ;;
    print) rules ;;
    -h | --help) usage ;;
    *)
        echo "host-firewall.sh: usage: host-firewall.sh apply|remove|print (see --help)" >&2
        exit 2
        ;;
esac
