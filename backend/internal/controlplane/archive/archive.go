// Package archive saves and restores learners' homes. The seat's workspace
// daemon makes a .tar.gz of the home (through the agent); this package
// streams it into the blob store (a directory under the data dir, or a
// Cloud Storage bucket) and indexes it in the store's archives table, and
// streams it back into a fresh seat, or to the learner as a download.
//
// Archives follow the learner (the registration), not the seat number.
// Nothing holds a whole archive in memory.
package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/blob"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// Reasons an archive was taken.
const (
	ReasonPeriodic = "periodic"
	ReasonStop     = "stop"
	ReasonEnd      = "end"
	ReasonReset    = "reset" // revoke-and-reset of a seat
	ReasonHost     = "host"  // before a lost host is recreated
)

// DefaultMaxBytes bounds one archive when the workshop names no disk limit.
const DefaultMaxBytes int64 = 2 << 30

// ErrTooLarge is returned (wrapped) when a home's archive exceeds its bound.
var ErrTooLarge = errors.New("archive exceeds the seat's disk limit")

// Agent is the part of the agent API archiving needs (*agentclient.Client).
type Agent interface {
	ArchiveSeat(ctx context.Context, workshopID string, seat int, ifNoneMatch string) (*agentclient.Archive, error)
	RestoreSeat(ctx context.Context, workshopID string, seat int, body io.Reader, maxBytes int64, onlyIfEmpty bool) (*agentclient.RestoreResult, error)
}

// Config configures an Archiver.
type Config struct {
	Store store.Store
	Blobs blob.Store
	Now   func() time.Time // default time.Now
	// Every is the period of archives of running seats (default 5m;
	// negative: never).
	Every time.Duration
	// Retention is how long archives are kept after their workshop stops
	// (default 7 days; negative means 0: nothing is kept once the
	// workshop is no longer running).
	Retention time.Duration
	// MaxBytes returns the bound of one archive of w (default
	// DefaultMaxBytes); the seat's disk limit when the workshop has one.
	MaxBytes func(w *store.Workshop) int64
	// Keep is how many archives per learner are kept while the workshop
	// runs (default 2: the newest, and the one before in case the newest
	// was cut).
	Keep int
	// Concurrency bounds simultaneous seat archives (default 4).
	Concurrency int
	Logger      *slog.Logger
}

// Archiver saves and restores homes.
type Archiver struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	lastRun map[string]time.Time // workshop -> last periodic pass
}

// New returns an archiver.
func New(cfg Config) *Archiver {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Every == 0 {
		cfg.Every = 5 * time.Minute
	}
	if cfg.Retention == 0 {
		cfg.Retention = 7 * 24 * time.Hour
	} else if cfg.Retention < 0 {
		cfg.Retention = 0
	}
	if cfg.MaxBytes == nil {
		cfg.MaxBytes = func(*store.Workshop) int64 { return DefaultMaxBytes }
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 2
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Archiver{cfg: cfg, log: cfg.Logger, lastRun: map[string]time.Time{}}
}

// Blobs is the archiver's blob store.
func (a *Archiver) Blobs() blob.Store { return a.cfg.Blobs }

// Prefix is the blob key prefix of a workshop's archives.
func Prefix(workshopID string) string { return "workshops/" + workshopID + "/" }

func (a *Archiver) key(w *store.Workshop, registrationID string, at time.Time) string {
	return Prefix(w.ID) + registrationID + "/" + at.UTC().Format("20060102T150405.000000Z") + ".tar.gz"
}

// SaveSeat archives the home of seat (held by registrationID) unless it is
// unchanged since the learner's latest archive; then it returns (nil,
// nil). An archive larger than the workshop's bound is not kept
// (ErrTooLarge). Older archives beyond Keep are removed.
func (a *Archiver) SaveSeat(ctx context.Context, ag Agent, w *store.Workshop, seat int, registrationID, reason string) (*store.Archive, error) {
	prev, err := a.cfg.Store.LatestArchive(ctx, registrationID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	etag := ""
	if prev != nil {
		etag = prev.Fingerprint
	}
	arc, err := ag.ArchiveSeat(ctx, w.ID, seat, etag)
	if err != nil {
		return nil, fmt.Errorf("archive seat %d: %w", seat, err)
	}
	if arc.NotModified {
		return nil, nil
	}
	defer arc.Body.Close()
	limit := a.cfg.MaxBytes(w)
	at := a.cfg.Now().UTC()
	key := a.key(w, registrationID, at)
	n, err := a.cfg.Blobs.Put(ctx, key, &limitReader{r: arc.Body, left: limit, limit: limit})
	if err != nil {
		return nil, fmt.Errorf("archive seat %d: %w", seat, err)
	}
	rec := &store.Archive{WorkshopID: w.ID, RegistrationID: registrationID, Seat: seat, BlobKey: key,
		SizeBytes: n, Fingerprint: arc.ETag, Reason: reason, CreatedAt: at}
	if err := a.cfg.Store.AddArchive(ctx, rec); err != nil {
		_ = a.cfg.Blobs.Delete(context.WithoutCancel(ctx), key)
		return nil, fmt.Errorf("archive seat %d: record: %w", seat, err)
	}
	a.prune(ctx, registrationID)
	return rec, nil
}

// prune keeps the newest Keep archives of a learner.
func (a *Archiver) prune(ctx context.Context, registrationID string) {
	list, err := a.cfg.Store.ListArchives(ctx, store.ArchiveFilter{RegistrationID: registrationID})
	if err != nil {
		return
	}
	for i := a.cfg.Keep; i < len(list); i++ {
		if err := a.remove(ctx, &list[i]); err != nil {
			a.log.Warn("prune archive", "key", list[i].BlobKey, "err", err)
		}
	}
}

// remove deletes an archive's object, then its row.
func (a *Archiver) remove(ctx context.Context, arc *store.Archive) error {
	if err := a.cfg.Blobs.Delete(ctx, arc.BlobKey); err != nil {
		return err
	}
	return a.cfg.Store.DeleteArchive(ctx, arc.ID)
}

// limitReader fails the stream (so the blob store keeps nothing) once more
// than limit bytes went through.
type limitReader struct {
	r           io.Reader
	left, limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, fmt.Errorf("%w (%d bytes)", ErrTooLarge, l.limit)
	}
	return n, err
}
