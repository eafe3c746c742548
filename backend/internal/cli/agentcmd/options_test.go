package agentcmd

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/host/agent"
)

func TestParseArgs(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"AGENT_LISTEN":           "127.0.0.1:9999",
		"FC_AGENT_TOKEN":         "seed-token",
		"CORS_ORIGINS":           "http://a.example, http://b.example/",
		"AGENT_CAPACITY":         "12",
		"AGENT_WARM_SEATS":       "5",
		"AGENT_SEAT_DISK_MB":     "4096",
		"WORKSPACE_TOKEN_SECRET": "s3cret",
	}
	getenv := func(k string) string { return env[k] }
	o, err := parseArgs(nil, getenv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Listen != "127.0.0.1:9999" || !o.listenSet || o.Token != "seed-token" || o.Capacity != 12 || o.WarmSeats != 5 || o.SeatDiskMB != 4096 ||
		strings.Join(o.AllowedOrigins, " ") != "http://a.example http://b.example" || o.WorkspaceSecret != "s3cret" ||
		o.Metadata != "auto" || o.MetadataURL != agent.DefaultMetadataURL {
		t.Fatalf("from env: %+v", o)
	}
	// Flags win; AGENT_TOKEN wins over FC_AGENT_TOKEN.
	env["AGENT_TOKEN"] = "agent-token"
	o, err = parseArgs([]string{"--listen", ":7000", "--capacity", "3", "--warm-seats", "1", "--runtime", "process", "--allowed-origins", "*", "--seat-disk-mb", "-1"}, getenv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Listen != ":7000" || o.Token != "agent-token" || o.Capacity != 3 || o.WarmSeats != 1 || o.Runtime != "process" || o.AllowedOrigins[0] != "*" || o.SeatDiskMB != -1 {
		t.Fatalf("flags: %+v", o)
	}
	o, _ = parseArgs([]string{"--token", "flag-token"}, getenv, nil)
	if o.Token != "flag-token" {
		t.Fatalf("--token: %+v", o)
	}
	noEnv := func(string) string { return "" }
	// Warm seats default to the capacity, at most 30.
	if o, err := parseArgs([]string{"--capacity", "4"}, noEnv, nil); err != nil || o.WarmSeats != 4 {
		t.Fatalf("--capacity 4: warm seats %+v %v", o, err)
	}
	if o, err := parseArgs([]string{"--capacity", "200"}, noEnv, nil); err != nil || o.WarmSeats != 30 {
		t.Fatalf("--capacity 200: warm seats %+v %v", o, err)
	}
	if o, err := parseArgs([]string{"--warm-seats", "0"}, noEnv, nil); err != nil || o.WarmSeats != 0 {
		t.Fatalf("--warm-seats 0: %+v %v", o, err)
	}
	o, _ = parseArgs(nil, noEnv, nil)
	if o.Listen != ":9090" || o.listenSet || o.Capacity != 30 || o.Token != "" || o.WarmSeats != 30 || o.SeatDiskMB != 2048 {
		t.Fatalf("defaults: %+v", o)
	}
	for _, bad := range [][]string{
		{"--runtime", "docker"},
		{"--metadata", "maybe"},
		{"--capacity", "0"},
		{"--warm-seats", "-1"},
		{"--seat-disk-mb", "10"},
		{"--seat-disk-mb", "0"},
		{"--capacity", "2", "--warm-seats", "3"},
		{"extra"},
		{"--no-such-flag"},
	} {
		if _, err := parseArgs(bad, noEnv, &bytes.Buffer{}); err == nil {
			t.Errorf("parseArgs(%v) succeeded", bad)
		}
	}
}

// TestSeatOrphanTimeoutOption: seats end 24 h after their agent is gone by
// default; AGENT_SEAT_ORPHAN_TIMEOUT and --seat-orphan-timeout change it,
// 0 turns it off, and a timeout an agent restart could hit is refused.
func TestSeatOrphanTimeoutOption(t *testing.T) {
	t.Parallel()
	noEnv := func(string) string { return "" }
	if o, err := parseArgs(nil, noEnv, nil); err != nil || o.SeatOrphanTimeout != 24*time.Hour {
		t.Fatalf("default: %v %v", o.SeatOrphanTimeout, err)
	}
	env := func(k string) string {
		if k == "AGENT_SEAT_ORPHAN_TIMEOUT" {
			return "2h"
		}
		return ""
	}
	if o, err := parseArgs(nil, env, nil); err != nil || o.SeatOrphanTimeout != 2*time.Hour {
		t.Fatalf("env: %v %v", o.SeatOrphanTimeout, err)
	}
	if o, err := parseArgs([]string{"--seat-orphan-timeout", "0"}, env, nil); err != nil || o.SeatOrphanTimeout != 0 {
		t.Fatalf("flag 0: %v %v", o.SeatOrphanTimeout, err)
	}
	for _, bad := range []string{"10s", "-1h"} {
		if _, err := parseArgs([]string{"--seat-orphan-timeout", bad}, noEnv, nil); err == nil {
			t.Errorf("--seat-orphan-timeout %s accepted", bad)
		}
	}
	if _, err := parseArgs(nil, func(k string) string {
		if k == "AGENT_SEAT_ORPHAN_TIMEOUT" {
			return "soon"
		}
		return ""
	}, nil); err == nil {
		t.Error("AGENT_SEAT_ORPHAN_TIMEOUT=soon accepted")
	}
}
