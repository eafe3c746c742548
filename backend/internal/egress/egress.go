// Package egress is where seats may connect: the ranges every seat is kept
// from by default (Blocked), and the allow rules a workshop adds for its lab
// servers. The control plane validates rules with it; the seat runtimes
// turn them into firewall rules.
package egress

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Blocked are the IPv4 destinations no seat may reach by default:
// every private, shared, loopback, link-local (the cloud metadata server),
// multicast and reserved range of the IANA special-purpose registry. On GCP
// that keeps seats off the VPC, the other workshop hosts and internal
// services; the public internet stays open. Every address of the host
// itself is refused separately (the runtimes' input rules).
//
// The three documentation ranges (192.0.2.0/24, 198.51.100.0/24,
// 203.0.113.0/24) are not routed on the internet, so blocking them protects
// nothing; they stay open, and the isolation tests use one of them as their
// stand-in for the internet.
var Blocked = []string{
	"0.0.0.0/8",      // "this network"
	"10.0.0.0/8",     // private
	"100.64.0.0/10",  // shared address space (carrier-grade NAT)
	"127.0.0.0/8",    // loopback
	"169.254.0.0/16", // link-local, the metadata server 169.254.169.254
	"172.16.0.0/12",  // private
	"192.0.0.0/24",   // IETF protocol assignments
	"192.88.99.0/24", // 6to4 relay anycast (deprecated)
	"192.168.0.0/16", // private
	"198.18.0.0/15",  // benchmarking
	"224.0.0.0/4",    // multicast
	"240.0.0.0/4",    // reserved, and the limited broadcast address
}

// Rule opens one destination that BlockedEgress would refuse, for a
// lab server a workshop needs: a CIDR and a TCP/UDP port (0 = any port).
type Rule struct {
	Prefix netip.Prefix
	Port   int
}

// String is the rule's text form, as ParseRule reads it.
func (e Rule) String() string {
	if e.Port == 0 {
		return e.Prefix.String()
	}
	return e.Prefix.String() + ":" + strconv.Itoa(e.Port)
}

// ParseRule reads "10.1.2.0/24:5432", "10.1.2.3:80" or "10.1.2.0/24"
// (any port). Only IPv4: seats have no IPv6.
func ParseRule(s string) (Rule, error) {
	s = strings.TrimSpace(s)
	addr, port := s, 0
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		addr = s[:i]
		p, err := strconv.Atoi(s[i+1:])
		if err != nil || p < 1 || p > 65535 {
			return Rule{}, fmt.Errorf("egress rule %q: the port must be 1..65535", s)
		}
		port = p
	}
	var pfx netip.Prefix
	var err error
	if strings.Contains(addr, "/") {
		pfx, err = netip.ParsePrefix(addr)
	} else {
		var a netip.Addr
		if a, err = netip.ParseAddr(addr); err == nil {
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil || !pfx.Addr().Is4() {
		return Rule{}, fmt.Errorf("egress rule %q: want an IPv4 address or CIDR, optionally with :port", s)
	}
	if pfx.Bits() < 8 {
		return Rule{}, fmt.Errorf("egress rule %q: a range wider than /8 is not a lab server", s)
	}
	return Rule{Prefix: pfx.Masked(), Port: port}, nil
}

// ParseRules parses every rule, or reports the first bad one.
func ParseRules(in []string) ([]Rule, error) {
	var out []Rule
	for _, s := range in {
		r, err := ParseRule(s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
