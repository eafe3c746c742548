package egress

import (
	"net/netip"
	"testing"
)

func TestParseRule(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"10.1.2.3":          "10.1.2.3/32",
		"10.1.2.3:5432":     "10.1.2.3/32:5432",
		" 10.1.2.9/24:80 ":  "10.1.2.0/24:80",
		"192.168.0.0/16":    "192.168.0.0/16",
		"172.16.5.5/32:443": "172.16.5.5/32:443",
	} {
		r, err := ParseRule(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseRule(%q) = %v, %v; want %s", in, r, err, want)
		}
	}
	for _, bad := range []string{"", "x", "10.1.2.3:0", "10.1.2.3:70000", "::1", "[::1]:80", "0.0.0.0/0", "10.0.0.0/7:22", "10.1.2.3:ssh"} {
		if r, err := ParseRule(bad); err == nil {
			t.Errorf("ParseRule(%q) = %v, want an error", bad, r)
		}
	}
}

// Every private, shared, link-local, multicast and reserved range is in the
// default block list; public addresses are not.
func TestBlockedCoversSpecialRanges(t *testing.T) {
	t.Parallel()
	var blocked []netip.Prefix
	for _, s := range Blocked {
		blocked = append(blocked, netip.MustParsePrefix(s))
	}
	in := func(a string) bool {
		ip := netip.MustParseAddr(a)
		for _, p := range blocked {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	for _, a := range []string{"10.128.0.5", "172.20.1.1", "192.168.1.1", "100.64.0.1", "100.127.255.254", "169.254.169.254",
		"127.0.0.1", "0.1.2.3", "224.0.0.251", "239.255.255.250", "240.0.0.1", "255.255.255.255", "198.18.0.1", "192.0.0.8"} {
		if !in(a) {
			t.Errorf("%s is not blocked", a)
		}
	}
	for _, a := range []string{"1.1.1.1", "8.8.8.8", "34.120.0.1", "172.32.0.1", "100.128.0.1", "198.51.100.1"} {
		if in(a) {
			t.Errorf("public %s is blocked", a)
		}
	}
}
