package main

import (
	"log/slog"
	"testing"
)

// The bench runs as local mode does by default: seats without their own
// network, so a machine without iptables can run it.
func TestSeatNetworkOffByDefault(t *testing.T) {
	if o := runtimeOptions("/s", "/d", false, slog.Default()); !o.NoNetwork {
		t.Error("seat network on without -seat-network: the bench would need iptables")
	}
	if o := runtimeOptions("/s", "/d", true, slog.Default()); o.NoNetwork {
		t.Error("-seat-network did not give seats their network")
	}
}
