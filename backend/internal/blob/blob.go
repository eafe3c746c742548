// Package blob stores large opaque objects (learners' home archives) by key:
// a directory on the local disk (Dir, the default, under the data
// directory) or a Cloud Storage bucket (GCS, with the official Go client).
//
// Keys are "/"-separated relative names of letters, digits and "-_.",
// e.g. "workshops/ws1/reg7/20261204T2200Z.tar.gz". Objects are written and
// read as streams: nothing holds a whole object in memory.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrNotFound is returned (wrapped) by Get for a key that does not exist.
var ErrNotFound = errors.New("blob not found")

// Object is one stored object.
type Object struct {
	Key     string
	Size    int64
	Updated time.Time
}

// Store is a blob store. Every method is safe for concurrent use.
type Store interface {
	// Put stores r under key, replacing any object there. The object
	// becomes visible only once r is read to its end without error; a
	// failed or cancelled Put leaves no object (and no partial one). It
	// returns the number of bytes stored.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Get opens the object at key; the caller closes it.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns the objects whose keys start with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]Object, error)
	// DeletePrefix removes every object whose key starts with prefix and
	// returns how many it removed. An empty prefix is refused.
	DeletePrefix(ctx context.Context, prefix string) (int, error)
	// Delete removes one object; a missing one is not an error.
	Delete(ctx context.Context, key string) error
	// Describe names the store for logs and docs, e.g. "gs://bucket".
	Describe() string
}

// CheckKey validates a key: 1-512 bytes of [A-Za-z0-9-_.] separated by
// single "/", no "." or ".." element, no leading or trailing "/".
func CheckKey(key string) error {
	if key == "" || len(key) > 512 {
		return fmt.Errorf("blob: key must be 1-512 bytes")
	}
	return checkParts(key)
}

// checkPrefix validates a List/Delete prefix: like a key, but it may end
// with "/" (a "directory") and may be empty when allowEmpty.
func checkPrefix(prefix string, allowEmpty bool) error {
	if prefix == "" {
		if allowEmpty {
			return nil
		}
		return fmt.Errorf("blob: an empty prefix is refused")
	}
	return checkParts(strings.TrimSuffix(prefix, "/"))
}

func checkParts(s string) error {
	for _, part := range strings.Split(s, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("blob: invalid key %q", s)
		}
		for _, c := range part {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
			if !ok {
				return fmt.Errorf("blob: invalid character %q in key %q", c, s)
			}
		}
	}
	return nil
}
