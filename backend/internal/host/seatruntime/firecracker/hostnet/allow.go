package hostnet

// Per-seat egress allowlist: a workshop that needs a lab server on a
// private address opens exactly that CIDR and port for its seats. Each rule
// names the seat's guest address as its source and carries the seat's key
// as a comment, so removing a seat removes exactly its rules. The rules of
// one seat are added and removed in one iptables-restore transaction each.

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/clarateach/backend/internal/egress"
)

var seatKeyRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)

func allowComment(key string) string { return "ct-seat:" + key }

// SeatAllowRules are the allow rules of one seat as `iptables -S` prints
// them: any protocol when a rule has no port, else TCP and UDP to that port.
func (n *Net) SeatAllowRules(key string, seatIP netip.Addr, rules []egress.Rule) []string {
	var out []string
	for _, ru := range rules {
		head := "-A " + ChainAllow + " -s " + seatIP.String() + "/32 -d " + ru.Prefix.String() + " -i " + n.cfg.Bridge
		tail := ` -m comment --comment "` + allowComment(key) + `" -j ACCEPT`
		if ru.Port == 0 {
			out = append(out, head+tail)
			continue
		}
		for _, proto := range []string{"tcp", "udp"} {
			out = append(out, head+" -p "+proto+" -m "+proto+" --dport "+strconv.Itoa(ru.Port)+tail)
		}
	}
	return out
}

// AllowSeat replaces the allow rules of the seat key (a guest at seatIP)
// with rules. With no rules it only removes the old ones. Setup must have
// run.
func (n *Net) AllowSeat(ctx context.Context, key string, seatIP netip.Addr, rules []egress.Rule) error {
	if !seatKeyRe.MatchString(key) {
		return fmt.Errorf("hostnet: bad seat key %q", key)
	}
	if !n.Subnet().Contains(seatIP) {
		return fmt.Errorf("hostnet: seat address %s is outside %s", seatIP, n.Subnet())
	}
	for _, ru := range rules {
		if !ru.Prefix.IsValid() || !ru.Prefix.Addr().Is4() || ru.Port < 0 || ru.Port > 65535 {
			return fmt.Errorf("hostnet: bad egress rule %v", ru)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	old, err := n.seatRules(ctx, key)
	if err != nil {
		return err
	}
	// Old rules out and new ones in, in one transaction: the seat never
	// has both, nor a moment with duplicates.
	var b strings.Builder
	b.WriteString("*filter\n")
	for _, r := range old {
		b.WriteString("-D" + strings.TrimPrefix(r, "-A") + "\n")
	}
	for _, r := range n.SeatAllowRules(key, seatIP, rules) {
		b.WriteString(r + "\n")
	}
	b.WriteString("COMMIT\n")
	if len(old) == 0 && len(rules) == 0 {
		return nil
	}
	if _, err := n.run(ctx, []byte(b.String()), "iptables-restore", "-w", "--noflush"); err != nil {
		return fmt.Errorf("hostnet: seat %s allowlist: %w", key, err)
	}
	return nil
}

// RemoveSeat removes every allow rule of the seat key. A seat without
// rules, or a host without the chain, is not an error.
func (n *Net) RemoveSeat(ctx context.Context, key string) error {
	if !seatKeyRe.MatchString(key) {
		return fmt.Errorf("hostnet: bad seat key %q", key)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	old, err := n.seatRules(ctx, key)
	if err != nil || len(old) == 0 {
		return err
	}
	var b strings.Builder
	b.WriteString("*filter\n")
	for _, r := range old {
		b.WriteString("-D" + strings.TrimPrefix(r, "-A") + "\n")
	}
	b.WriteString("COMMIT\n")
	if _, err := n.run(ctx, []byte(b.String()), "iptables-restore", "-w", "--noflush"); err != nil {
		return fmt.Errorf("hostnet: remove seat %s allowlist: %w", key, err)
	}
	return nil
}

// seatRules lists the rules of the allow chain carrying key's comment, as
// `iptables -S` prints them. A missing chain has none.
func (n *Net) seatRules(ctx context.Context, key string) ([]string, error) {
	out, err := n.run(ctx, nil, "iptables", "-w", "-t", "filter", "-S", ChainAllow)
	if err != nil {
		return nil, nil // no chain (Setup has not run): no rules
	}
	want := allowComment(key)
	var rules []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "-A" {
			continue
		}
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "--comment" && strings.Trim(f[i+1], `"`) == want {
				rules = append(rules, strings.TrimSpace(line))
				break
			}
		}
	}
	return rules, nil
}
