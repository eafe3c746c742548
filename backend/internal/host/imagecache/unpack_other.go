//go:build !linux

package imagecache

import (
	"errors"
	"io"
)

type unpacker struct{ written int64 }

func newUnpacker(string, int64, func() error) (*unpacker, error) {
	return nil, errors.New("imagecache: unpacking images needs Linux")
}

func (u *unpacker) close()                {}
func (u *unpacker) layer(io.Reader) error { return nil }
func (u *unpacker) hasShell() error       { return nil }
