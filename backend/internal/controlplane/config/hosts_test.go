package config

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// SEATS_PER_HOST and MAX_SEATS: defaults, bounds, and the
// seats per host a new workshop gets.
func TestHostSettings(t *testing.T) {
	load := func(env map[string]string) (*Config, error) {
		dir := t.TempDir()
		env["DATA_DIR"] = dir
		return Load(context.Background(), Options{Getenv: envMap(env), EnvFile: filepath.Join(dir, "none")})
	}
	c, err := load(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.SeatsPerHost != 30 || c.MaxSeats != 30 || c.WorkshopSeatsPerHost() != 0 {
		t.Fatalf("defaults: seats per host %d, max seats %d, local workshop seats per host %d",
			c.SeatsPerHost, c.MaxSeats, c.WorkshopSeatsPerHost())
	}
	c, err = load(map[string]string{"SEATS_PER_HOST": "10", "MAX_SEATS": "500"})
	if err != nil {
		t.Fatal(err)
	}
	c.Provisioner = ProvisionerGCP
	if c.WorkshopSeatsPerHost() != 10 || c.MaxSeats != 500 {
		t.Fatalf("gcp: workshop seats per host %d, max seats %d", c.WorkshopSeatsPerHost(), c.MaxSeats)
	}
	// Local mode: one agent (LOCAL_HOSTS=1, the default) holds every seat;
	// with several, placement is as on GCP.
	c, err = load(map[string]string{"LOCAL_HOSTS": "5", "SEATS_PER_HOST": "100", "MAX_SEATS": "500"})
	if err != nil {
		t.Fatal(err)
	}
	if c.LocalHosts != 5 || c.WorkshopSeatsPerHost() != 100 {
		t.Fatalf("LOCAL_HOSTS=5: local hosts %d, workshop seats per host %d", c.LocalHosts, c.WorkshopSeatsPerHost())
	}
	for env, want := range map[string]string{
		"LOCAL_HOSTS=0":  "LOCAL_HOSTS must be between 1 and 64",
		"LOCAL_HOSTS=65": "LOCAL_HOSTS must be between 1 and 64",
		"LOCAL_HOSTS=2,MAX_SEATS=90,SEATS_PER_HOST=30": "is 3 hosts per workshop, but local mode runs LOCAL_HOSTS=2",

		"MAX_SEATS=1001":     "MAX_SEATS must be between 1 and 1000",
		"SEATS_PER_HOST=0":   "SEATS_PER_HOST must be between 1 and 240",
		"SEATS_PER_HOST=241": "SEATS_PER_HOST must be between 1 and 240",

		"MAX_SEATS=1000,SEATS_PER_HOST=10": "100 hosts per workshop; at most 64",
	} {
		m := map[string]string{}
		for _, kv := range strings.Split(env, ",") {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		if _, err := load(m); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", env, err, want)
		}
	}
}
