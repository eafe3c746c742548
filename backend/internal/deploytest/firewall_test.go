package deploytest

import (
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/host/seatruntime/firecracker/hostnet"
)

// TestHostFirewallMatchesRuntime: the boot-time firewall script installs
// exactly the rules the agent's Firecracker runtime maintains.
func TestHostFirewallMatchesRuntime(t *testing.T) {
	t.Parallel()
	n, err := hostnet.New(hostnet.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, 30*time.Second, []string{"CLARATEACH_BRIDGE=", "CLARATEACH_SUBNET=", "CLARATEACH_UPLINK="}, repoRoot(t), "bash", repoPath(t, "scripts/lib/host-firewall.sh"), "print")
	if r.code != 0 {
		t.Fatalf("print: %s", r.stderr)
	}
	got := map[string][]string{}
	table := ""
	for _, l := range strings.Split(r.stdout, "\n") {
		switch {
		case strings.HasPrefix(l, "*"):
			table = l[1:]
		case strings.HasPrefix(l, "-A "):
			got[table] = append(got[table], l)
		}
	}
	for table, want := range n.Rules() {
		if strings.Join(got[table], "\n") != strings.Join(want, "\n") {
			t.Errorf("%s rules differ from hostnet.Rules():\nscript:\n%s\nruntime:\n%s", table, strings.Join(got[table], "\n"), strings.Join(want, "\n"))
		}
	}
	// Jumps, from the script's source.
	src := readRepoFile(t, "scripts/lib/host-firewall.sh")
	for table, js := range n.Jumps() {
		for _, j := range js {
			spec := strings.TrimPrefix(j, "-A ")
			line := table + " " + strings.ReplaceAll(strings.ReplaceAll(spec, "fcbr0", "$BRIDGE"), "192.168.100.0/24", "$SUBNET")
			line = strings.ReplaceAll(line, hostnet.ChainInput, "$IN")
			line = strings.ReplaceAll(line, hostnet.ChainForward, "$FWD")
			line = strings.ReplaceAll(line, hostnet.ChainNAT, "$NAT")
			line = strings.ReplaceAll(line, hostnet.ChainAllow, "$ALLOW")
			if !strings.Contains(src, line) {
				t.Errorf("host-firewall.sh lacks the hook %q (as %q)", j, line)
			}
		}
	}
}

// TestHostFirewallIdempotent applies the firewall twice inside a throwaway
// network namespace: every rule and hook exists once, check passes, remove
// leaves nothing.
func TestHostFirewallIdempotent(t *testing.T) {
	t.Parallel()
	needRoot(t)
	ip := needTool(t, "ip")
	needTool(t, "iptables")
	needTool(t, "iptables-restore")
	ns := fmt.Sprintf("ct-deploytest-%d", time.Now().UnixNano()%1e9)
	if out, err := exec.Command(ip, "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(ip, "netns", "del", ns).Run() })
	script := repoPath(t, "scripts/lib/host-firewall.sh")
	in := func(args ...string) result {
		return runCmd(t, 30*time.Second, nil, repoRoot(t), ip, append([]string{"netns", "exec", ns}, args...)...)
	}
	if r := in(script, "check"); r.code == 0 {
		t.Fatal("check passed on an empty namespace")
	}
	for i := 0; i < 2; i++ {
		if r := in(script, "apply"); r.code != 0 {
			t.Fatalf("apply %d: %s", i, r.stderr)
		}
	}
	if r := in(script, "check"); r.code != 0 {
		t.Fatalf("check after apply: %s", r.stderr)
	}
	dump := in("iptables-save").stdout
	var hooks []string
	for _, l := range strings.Split(dump, "\n") {
		if strings.HasPrefix(l, "-A INPUT") || strings.HasPrefix(l, "-A FORWARD") || strings.HasPrefix(l, "-A POSTROUTING") {
			hooks = append(hooks, l)
		}
	}
	sort.Strings(hooks)
	if len(hooks) != 4 {
		t.Errorf("want 4 hooks after two applies, got %d:\n%s", len(hooks), strings.Join(hooks, "\n"))
	}
	if c := strings.Count(dump, "-A CLARATEACH-FC-IN -j DROP"); c != 1 {
		t.Errorf("DROP rule present %d times", c)
	}
	// Drift (an extra rule) is detected and repaired.
	in("iptables", "-A", "CLARATEACH-FC-IN", "-j", "ACCEPT")
	if r := in(script, "check"); r.code == 0 {
		t.Error("check missed an extra rule")
	}
	in(script, "apply")
	if r := in(script, "check"); r.code != 0 {
		t.Error("apply did not repair the chain")
	}
	// A seat's allow rule (the agent's) survives apply at boot or by hand.
	in("iptables", "-A", "CLARATEACH-FC-ALLOW", "-s", "192.168.100.11/32", "-d", "10.99.0.2/32", "-j", "ACCEPT")
	in(script, "apply")
	if r := in(script, "check"); r.code != 0 {
		t.Error("check failed with a seat's allow rule in place")
	}
	if dump := in("iptables", "-S", "CLARATEACH-FC-ALLOW").stdout; !strings.Contains(dump, "-d 10.99.0.2/32") {
		t.Errorf("apply emptied the allow chain:\n%s", dump)
	}
	if r := in(script, "remove"); r.code != 0 {
		t.Fatalf("remove: %s", r.stderr)
	}
	if dump := in("iptables-save").stdout; strings.Contains(dump, "CLARATEACH") {
		t.Errorf("remove left rules:\n%s", dump)
	}
}
