//go:build linux

package sandbox

// Per-seat egress allowlist: a workshop that needs a lab server on a
// private address opens exactly that CIDR and port for its seats. Each rule
// names the seat's own address as its source and carries the seat key as a
// comment, so closing a seat removes exactly its rules. Seats without an
// allowlist never run iptables here.

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/clarateach/backend/internal/egress"
	"github.com/clarateach/backend/internal/host/seatruntime"
)

func egressComment(key string) string { return "ct-seat:" + key }

// openEgress adds s's allow rules and records them in the seat's state.
func (r *Runtime) openEgress(ctx context.Context, s *seatruntime.Seat, rules []egress.Rule) error {
	if !r.network || s.IP == "" {
		return nil // loopback-only seats reach nothing anyway
	}
	ex, err := parseExtra(s)
	if err != nil {
		return err
	}
	ipt, err := exec.LookPath("iptables")
	if err != nil {
		return fmt.Errorf("sandbox: egress allowlist: iptables not found: %w", err)
	}
	ex.Egress = ex.Egress[:0]
	for _, ru := range rules {
		ex.Egress = append(ex.Egress, ru.String())
	}
	raw, err := json.Marshal(ex)
	if err != nil {
		return err
	}
	s.Extra = raw
	for _, ru := range rules {
		for _, args := range egressArgs(s.IP, ex.Key, ru) {
			if err := iptables(ctx, ipt, append([]string{"-t", "filter", "-A", chainAllow}, args...)...); err != nil {
				_ = r.closeEgress(ctx, ex.Key)
				return fmt.Errorf("sandbox: egress allowlist: %w", err)
			}
		}
	}
	return nil
}

// egressArgs are the iptables rule bodies for one allow rule: any protocol
// when no port is given, else TCP and UDP to that port.
func egressArgs(seatIP, key string, ru egress.Rule) [][]string {
	base := []string{"-s", seatIP + "/32", "-d", ru.Prefix.String()}
	tail := []string{"-m", "comment", "--comment", egressComment(key), "-j", "ACCEPT"}
	if ru.Port == 0 {
		return [][]string{append(append([]string{}, base...), tail...)}
	}
	var out [][]string
	for _, proto := range []string{"tcp", "udp"} {
		a := append(append([]string{}, base...), "-p", proto, "--dport", strconv.Itoa(ru.Port))
		out = append(out, append(a, tail...))
	}
	return out
}

// closeEgress removes every allow rule of the seat key.
func (r *Runtime) closeEgress(ctx context.Context, key string) error {
	ipt, err := exec.LookPath("iptables")
	if err != nil {
		return nil
	}
	out, err := exec.CommandContext(ctx, ipt, "-w", "5", "-t", "filter", "-S", chainAllow).Output()
	if err != nil {
		return nil // no chain: no rules
	}
	want := egressComment(key)
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "-A" || !hasComment(f, want) {
			continue
		}
		f[0] = "-D"
		for i := range f {
			f[i] = strings.Trim(f[i], `"`) // -S quotes the comment; exec passes no shell
		}
		if err := iptables(ctx, ipt, append([]string{"-t", "filter"}, f...)...); err != nil {
			return fmt.Errorf("sandbox: remove egress rule: %w", err)
		}
	}
	return nil
}

func hasComment(fields []string, want string) bool {
	for i := 0; i+1 < len(fields); i++ {
		if fields[i] == "--comment" && strings.Trim(fields[i+1], `"`) == want {
			return true
		}
	}
	return false
}
