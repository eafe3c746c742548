package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ArchiveConfig says where learners' homes are archived and for how long.
type ArchiveConfig struct {
	// Bucket is ARCHIVE_BUCKET: "gs://BUCKET[/PREFIX]" (or a bare bucket
	// name) stores archives in Cloud Storage; empty stores them in Dir.
	Bucket string
	// Dir is ARCHIVE_DIR, default DATA_DIR/archives.
	Dir string
	// Every is ARCHIVE_EVERY: how often running seats are archived
	// (default 5m; 0 = only before teardown).
	Every time.Duration
	// Retention is ARCHIVE_RETENTION: how long archives are kept after
	// the workshop stops (default 7d; 0 = nothing is kept after the end).
	Retention time.Duration
	// MaxBytes is ARCHIVE_MAX_BYTES: the largest archive of one home
	// (default 2 GiB), used when a workshop has no disk limit of its own.
	MaxBytes int64
}

func loadArchive(env func(string) string, dataDir string) (ArchiveConfig, error) {
	a := ArchiveConfig{Bucket: strings.TrimSpace(env("ARCHIVE_BUCKET")), Dir: env("ARCHIVE_DIR")}
	if a.Dir == "" {
		a.Dir = filepath.Join(dataDir, "archives")
	}
	var err error
	if a.Every, err = daysOrDuration(env, "ARCHIVE_EVERY", 5*time.Minute); err != nil {
		return a, err
	}
	if a.Retention, err = daysOrDuration(env, "ARCHIVE_RETENTION", 7*24*time.Hour); err != nil {
		return a, err
	}
	a.MaxBytes = 2 << 30
	if v := env("ARCHIVE_MAX_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return a, fmt.Errorf("ARCHIVE_MAX_BYTES must be a positive number of bytes, not %q", v)
		}
		a.MaxBytes = n
	}
	return a, nil
}

// daysOrDuration reads a duration like 90m or 168h, or whole days like 7d.
func daysOrDuration(env func(string) string, k string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(env(k))
	if v == "" {
		return def, nil
	}
	if d, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(d)
		if err == nil && n >= 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return d, nil
	} else if v == "0" {
		return 0, nil
	}
	return 0, fmt.Errorf("%s must be a duration like 30m, 168h or 7d (0 = none), not %q", k, v)
}
