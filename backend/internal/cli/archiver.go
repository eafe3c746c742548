package cli

import (
	"context"
	"log/slog"

	"github.com/clarateach/backend/internal/blob"
	"github.com/clarateach/backend/internal/controlplane/archive"
	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// newArchiver opens the archive blob store (ARCHIVE_BUCKET, else
// ARCHIVE_DIR) and returns the archiver of learners' homes.
func newArchiver(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger) (*archive.Archiver, func() error, error) {
	blobs, closeBlobs, err := blob.Open(ctx, cfg.Archive.Bucket, cfg.Archive.Dir)
	if err != nil {
		return nil, nil, err
	}
	every, retention := cfg.Archive.Every, cfg.Archive.Retention
	if every == 0 {
		every = -1 // only before teardown
	}
	if retention == 0 {
		retention = -1 // nothing kept after the end
	}
	maxBytes := cfg.Archive.MaxBytes
	arc := archive.New(archive.Config{
		Store: st, Blobs: blobs, Every: every, Retention: retention, Logger: log,
		MaxBytes: func(w *store.Workshop) int64 { return archiveBound(w, maxBytes) },
	})
	if log != nil {
		log.Info("learners' work is archived", "store", blobs.Describe(), "every", cfg.Archive.Every, "retention", cfg.Archive.Retention)
	}
	return arc, closeBlobs, nil
}

// archiveBound is the largest archive of one home of w: the seat's disk
// size (plus 1/16 for the tar headers of many small files) when the
// workshop has one, else ARCHIVE_MAX_BYTES.
func archiveBound(w *store.Workshop, def int64) int64 {
	if w.DiskMB > 0 {
		disk := int64(w.DiskMB) << 20
		return disk + disk/16
	}
	return def
}
