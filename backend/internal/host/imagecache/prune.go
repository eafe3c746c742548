package imagecache

import (
	"fmt"
	"os"
	"time"
)

// PruneOptions says which cached images Prune removes. An image in use
// is never removed.
type PruneOptions struct {
	// UnusedFor removes images not used for at least this long (0: none
	// by age).
	UnusedFor time.Duration
	// KeepFree then removes the least recently used images until the
	// cache's disk has this many bytes free (0: Config.MinFreeBytes; -1:
	// no pruning by free space).
	KeepFree int64
	// InUse reports whether a seat runs on the image (by digest).
	InUse func(digest string) bool
}

// Prune removes unused images by age, then by disk pressure, and returns
// what it removed.
func (c *Cache) Prune(o PruneOptions) ([]*Image, error) {
	list, err := c.List()
	if err != nil {
		return nil, err
	}
	inUse := func(d string) bool { return o.InUse != nil && o.InUse(d) }
	var removed []*Image
	var keep []*Image // most recently used first
	now := c.cfg.Now()
	for _, im := range list {
		if o.UnusedFor > 0 && !inUse(im.Digest) && now.Sub(im.LastUsed) >= o.UnusedFor {
			if err := c.remove(im); err != nil {
				return removed, err
			}
			removed = append(removed, im)
			continue
		}
		keep = append(keep, im)
	}
	want := o.KeepFree
	if want == 0 {
		want = c.cfg.MinFreeBytes
	}
	for i := len(keep) - 1; want > 0 && i >= 0; i-- {
		free, err := c.free()
		if err != nil {
			return removed, err
		}
		if free >= want {
			break
		}
		if im := keep[i]; !inUse(im.Digest) {
			if err := c.remove(im); err != nil {
				return removed, err
			}
			removed = append(removed, im)
		}
	}
	return removed, nil
}

// remove deletes an image: first renamed out of the cache's names, so a
// half-deleted image is never taken for a cached one.
func (c *Cache) remove(im *Image) error {
	unlock := c.lockDigest(im.Digest)
	defer unlock()
	tmp, err := os.MkdirTemp(c.cfg.Dir, ".tmp-")
	if err != nil {
		return fmt.Errorf("imagecache: %w", err)
	}
	gone := tmp + "/image"
	if err := os.Rename(im.Dir, gone); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("imagecache: remove %s: %w", im.Digest, err)
	}
	c.log.Info("image pruned", "ref", im.Ref, "digest", im.Digest, "bytes", im.Bytes, "last_used", im.LastUsed)
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("imagecache: remove %s: %w", im.Digest, err)
	}
	return nil
}
