package config

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/envflag"
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

// bindArchive declares the ARCHIVE_* settings (variables only). Dir's
// default, DATA_DIR/archives, is filled after parsing.
func bindArchive(s *envflag.Set, a *ArchiveConfig) {
	E := envflag.Env
	s.String(&a.Bucket, "", E("ARCHIVE_BUCKET"), "", "gs://BUCKET[/PREFIX] for archives (empty: ARCHIVE_DIR)")
	s.String(&a.Dir, "", E("ARCHIVE_DIR"), "", "archive directory (default DATA_DIR/archives)")
	a.Every, a.Retention, a.MaxBytes = 5*time.Minute, 7*24*time.Hour, 2<<30
	days := func(p *time.Duration) func(string) error {
		return func(v string) error {
			d, err := daysOrDuration(v)
			if err == nil {
				*p = d
			}
			return err
		}
	}
	const want = "a duration like 30m, 168h or 7d (0 = none)"
	s.Func("", E("ARCHIVE_EVERY"), "5m", want, "how often running seats are archived (0 = only before teardown)", days(&a.Every))
	s.Func("", E("ARCHIVE_RETENTION"), "7d", want, "how long archives are kept after the workshop stops", days(&a.Retention))
	s.Func("", E("ARCHIVE_MAX_BYTES"), "2147483648", "a positive number of bytes", "largest archive of one home", func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n <= 0 {
			return errors.New("not a positive number")
		}
		a.MaxBytes = n
		return nil
	})
}

// daysOrDuration reads a duration like 90m or 168h, or whole days like 7d.
func daysOrDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
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
	return 0, errors.New("not a duration")
}
