//go:build linux

package sandbox

// Host firewall for seats. The rules are static (they match the seat
// interface prefix and subnet, not individual seats), so they are installed
// once when the runtime starts and creating a seat never runs iptables.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

const (
	chainFwd = "CLARATEACH-SEAT-FWD"
	chainIn  = "CLARATEACH-SEAT-IN"
	chainNAT = "CLARATEACH-SEAT-NAT"
	// chainAllow holds the per-seat allowlist rules (egress_linux.go). It is
	// created but never flushed by InstallFirewall, so the rules of seats
	// that outlive an agent restart stay in force.
	chainAllow = "CLARATEACH-SEAT-ALLOW"
)

type fwRule struct {
	table, chain string
	args         []string
}

// firewallRules returns the rules, in order, for each of our chains, and the
// jumps from the built-in chains.
func (r *Runtime) firewallRules() (chains []fwRule, rules []fwRule, jumps []fwRule) {
	ifw := vethPrefix + "+"
	subnet := r.subnet.String()
	chains = []fwRule{{"filter", chainFwd, nil}, {"filter", chainIn, nil}, {"nat", chainNAT, nil}}
	// chainAllow is kept apart: InstallFirewall must not flush it.
	add := func(table, chain string, args ...string) {
		rules = append(rules, fwRule{table, chain, args})
	}
	// Anything a seat sends to a host-local address (the agent's port, any
	// daemon on the host, the seat's own gateway address) is dropped.
	// (Replies to connections the host opened are fine.)
	add("filter", chainIn, "-i", ifw, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
	add("filter", chainIn, "-i", ifw, "-j", "DROP")
	// Seat to seat, seat to the blocked ranges (metadata server, ...), and
	// spoofed sources are dropped; the rest may leave.
	add("filter", chainFwd, "-i", ifw, "!", "-s", subnet, "-j", "DROP")
	add("filter", chainFwd, "-i", ifw, "-o", ifw, "-j", "DROP")
	add("filter", chainFwd, "-i", ifw, "-d", subnet, "-j", "DROP")
	// A workshop's allowlist (lab servers) comes before the blocked ranges.
	add("filter", chainFwd, "-i", ifw, "-j", chainAllow)
	for _, c := range r.blocked {
		add("filter", chainFwd, "-i", ifw, "-d", c.String(), "-j", "DROP")
	}
	add("filter", chainFwd, "-i", ifw, "-j", "ACCEPT")
	// Only replies come back in.
	add("filter", chainFwd, "-o", ifw, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
	add("filter", chainFwd, "-o", ifw, "-j", "DROP")
	add("nat", chainNAT, "-s", subnet, "!", "-o", ifw, "-j", "MASQUERADE")
	jumps = []fwRule{
		{"filter", "INPUT", []string{"-j", chainIn}},
		{"filter", "FORWARD", []string{"-j", chainFwd}},
		{"nat", "POSTROUTING", []string{"-j", chainNAT}},
	}
	return chains, rules, jumps
}

func iptables(ctx context.Context, bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, append([]string{"-w", "5"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// InstallFirewall (re)creates the seat chains and hooks them in first
// position, enables IPv4 forwarding, and drops all IPv6 from seats. It is
// idempotent; New calls it when networking is on.
func (r *Runtime) InstallFirewall(ctx context.Context) error {
	ipt, err := exec.LookPath("iptables")
	if err != nil {
		return fmt.Errorf("iptables not found (apt-get install -y iptables): %w", err)
	}
	chains, rules, jumps := r.firewallRules()
	_ = iptables(ctx, ipt, "-t", "filter", "-N", chainAllow) // exists already after a restart
	for _, c := range chains {
		if iptables(ctx, ipt, "-t", c.table, "-N", c.chain) != nil {
			if err := iptables(ctx, ipt, "-t", c.table, "-F", c.chain); err != nil {
				return err
			}
		}
	}
	for _, ru := range rules {
		if err := iptables(ctx, ipt, append([]string{"-t", ru.table, "-A", ru.chain}, ru.args...)...); err != nil {
			return err
		}
	}
	for _, j := range jumps {
		if iptables(ctx, ipt, append([]string{"-t", j.table, "-C", j.chain}, j.args...)...) != nil {
			if err := iptables(ctx, ipt, append([]string{"-t", j.table, "-I", j.chain, "1"}, j.args...)...); err != nil {
				return err
			}
		}
	}
	// IPv6: seats get no IPv6 addresses (disabled on both veth ends); these
	// rules are a second lock.
	if ip6, err := exec.LookPath("ip6tables"); err == nil {
		for _, base := range []string{"INPUT", "FORWARD"} {
			args := []string{"-i", vethPrefix + "+", "-j", "DROP"}
			if iptables(ctx, ip6, append([]string{"-C", base}, args...)...) != nil {
				if err := iptables(ctx, ip6, append([]string{"-I", base, "1"}, args...)...); err != nil {
					return err
				}
			}
		}
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enable ip_forward: %w", err)
	}
	return nil
}

// RemoveFirewall deletes everything InstallFirewall added (ip_forward is
// left as it is). Seats lose egress; use it when uninstalling, and in tests.
func (r *Runtime) RemoveFirewall(ctx context.Context) error {
	ipt, err := exec.LookPath("iptables")
	if err != nil {
		return nil
	}
	var errs []error
	chains, _, jumps := r.firewallRules()
	for _, j := range jumps {
		for iptables(ctx, ipt, append([]string{"-t", j.table, "-D", j.chain}, j.args...)...) == nil {
		}
	}
	for _, c := range append(chains, fwRule{"filter", chainAllow, nil}) {
		if iptables(ctx, ipt, "-t", c.table, "-F", c.chain) == nil {
			if err := iptables(ctx, ipt, "-t", c.table, "-X", c.chain); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if ip6, err := exec.LookPath("ip6tables"); err == nil {
		for _, base := range []string{"INPUT", "FORWARD"} {
			for iptables(ctx, ip6, "-D", base, "-i", vethPrefix+"+", "-j", "DROP") == nil {
			}
		}
	}
	return errors.Join(errs...)
}
