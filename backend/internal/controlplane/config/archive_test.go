package config

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func TestArchiveConfig(t *testing.T) {
	dir := t.TempDir()
	load := func(env map[string]string) (*Config, error) {
		env["DATA_DIR"] = dir
		return Load(context.Background(), Options{Getenv: envMap(env), EnvFile: filepath.Join(dir, "none")})
	}
	c, err := load(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Archive.Dir != filepath.Join(dir, "archives") || c.Archive.Bucket != "" || c.Archive.Every != 5*time.Minute ||
		c.Archive.Retention != 7*24*time.Hour || c.Archive.MaxBytes != 2<<30 {
		t.Fatalf("defaults: %+v", c.Archive)
	}
	c, err = load(map[string]string{"ARCHIVE_BUCKET": "gs://b/p", "ARCHIVE_RETENTION": "0", "ARCHIVE_EVERY": "90s", "ARCHIVE_MAX_BYTES": "1000"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Archive.Bucket != "gs://b/p" || c.Archive.Retention != 0 || c.Archive.Every != 90*time.Second || c.Archive.MaxBytes != 1000 {
		t.Fatalf("set: %+v", c.Archive)
	}
	if c, err = load(map[string]string{"ARCHIVE_RETENTION": "14d"}); err != nil || c.Archive.Retention != 14*24*time.Hour {
		t.Fatalf("14d: %+v %v", c, err)
	}
	for _, bad := range []map[string]string{{"ARCHIVE_RETENTION": "a week"}, {"ARCHIVE_RETENTION": "-1h"}, {"ARCHIVE_MAX_BYTES": "0"}} {
		if _, err := load(bad); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
}
