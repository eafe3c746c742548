//go:build linux

package netlink

import "testing"

func TestNetlinkAttrEncoding(t *testing.T) {
	t.Parallel()
	got := nlAttr{typ: 3, children: []nlAttr{attrString(1, "ab"), attrU32(2, 7)}}.encode()
	// outer header (4) + "ab\0" attr padded to 8 + u32 attr 8 = 20
	if len(got) != 20 || got[0] != 20 || got[2] != 3 || got[4] != 7 || got[6] != 1 || got[12] != 8 || got[14] != 2 || got[16] != 7 {
		t.Fatalf("encoding: %v", got)
	}
}
