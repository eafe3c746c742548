package seatinit

// The wire format of Config, the message the agent sends a seat's init on
// fd 3 once per seat start. It was JSON; decoding JSON with encoding/json
// (reflection over Config) cost the init ~38 more minor page faults at
// every start (~275 in all; a page fault is what a start of the init
// mostly pays for on the VM kind the seats run on), for a message that
// only this package writes and reads. So it is a plain binary record:
//
//	message = length (uint32, little endian) fields
//	field   = tag (byte) payload
//
// with strings as a uvarint length and the bytes, integers as varints,
// and flags as a tag alone. Lists (args, env, masks) repeat their tag;
// each /etc file is one field with two strings. The length prefix lets
// the init read exactly one message, so a warm seat's later Claim (JSON)
// is left in the pipe for it. Agent and init come from one build: an
// unknown tag is an error, not skipped.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
)

// Field tags of the wire format. Never reuse a number.
const (
	tagRoot byte = iota + 1
	tagRootFS
	tagHome
	tagSock
	tagDaemon
	tagArg
	tagEnv
	tagHostname
	tagTmpSizeMB
	tagMask
	tagEtc
	tagNet
	tagRootless
	tagHomeFD
	tagRootFD
	tagImageRoot
	tagUIDLockFD
	tagLauncher
	tagWarm
	tagLearnerRoot
	tagHeartbeat
	tagLauncherELF
)

// maxConfig bounds a message the init will read.
const maxConfig = 16 << 20

type wireWriter struct{ b []byte }

func (w *wireWriter) str(tag byte, s string) {
	w.b = append(w.b, tag)
	w.raw(s)
}

func (w *wireWriter) raw(s string) {
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *wireWriter) num(tag byte, n int64) {
	w.b = append(w.b, tag)
	w.b = binary.AppendVarint(w.b, n)
}

func (w *wireWriter) flag(tag byte, on bool) {
	if on {
		w.b = append(w.b, tag)
	}
}

// MarshalBinary encodes c in the wire format, length prefix included.
// Zero fields are left out.
func (c *Config) MarshalBinary() ([]byte, error) {
	w := &wireWriter{b: make([]byte, 4, 1024)}
	for _, f := range []struct {
		tag byte
		s   string
	}{{tagRoot, c.Root}, {tagRootFS, c.RootFS}, {tagHome, c.Home}, {tagSock, c.Sock},
		{tagDaemon, c.Daemon}, {tagHostname, c.Hostname}, {tagLauncher, c.Launcher},
		{tagLauncherELF, c.LauncherELF}} {
		if f.s != "" {
			w.str(f.tag, f.s)
		}
	}
	for _, a := range c.Args {
		w.str(tagArg, a)
	}
	for _, e := range c.Env {
		w.str(tagEnv, e)
	}
	for _, m := range c.Masks {
		w.str(tagMask, m)
	}
	paths := make([]string, 0, len(c.Etc))
	for p := range c.Etc {
		paths = append(paths, p)
	}
	sort.Strings(paths) // one config, one encoding
	for _, p := range paths {
		w.str(tagEtc, p)
		w.raw(c.Etc[p])
	}
	for _, f := range []struct {
		tag byte
		n   int
	}{{tagTmpSizeMB, c.TmpSizeMB}, {tagHomeFD, c.HomeFD}, {tagRootFD, c.RootFD}, {tagUIDLockFD, c.UIDLockFD}} {
		if f.n != 0 {
			w.num(f.tag, int64(f.n))
		}
	}
	w.flag(tagRootless, c.Rootless)
	w.flag(tagImageRoot, c.ImageRoot)
	w.flag(tagWarm, c.Warm)
	w.flag(tagLearnerRoot, c.LearnerRoot)
	if c.Net != nil {
		w.str(tagNet, c.Net.Addr)
		w.raw(c.Net.Gateway)
	}
	if h := c.Heartbeat; h != nil {
		w.num(tagHeartbeat, int64(h.FD))
		w.b = binary.AppendVarint(w.b, h.TimeoutMS)
		w.b = binary.AppendVarint(w.b, h.CheckMS)
	}
	if len(w.b)-4 > maxConfig {
		return nil, fmt.Errorf("seat config: %d bytes, more than %d", len(w.b)-4, maxConfig)
	}
	binary.LittleEndian.PutUint32(w.b, uint32(len(w.b)-4))
	return w.b, nil
}

// ReadConfig reads one wire-format message from r, and nothing after it.
func ReadConfig(r io.Reader) (*Config, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, fmt.Errorf("seat config: %w", err)
	}
	size := binary.LittleEndian.Uint32(n[:])
	if size > maxConfig {
		return nil, fmt.Errorf("seat config: %d bytes, more than %d", size, maxConfig)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("seat config: %w", err)
	}
	c := &Config{}
	if err := c.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return c, nil
}

var errTruncated = errors.New("seat config: truncated")

type wireReader struct {
	b   []byte
	err error
}

func (r *wireReader) raw() string {
	n, k := binary.Uvarint(r.b)
	if k <= 0 || n > uint64(len(r.b)-k) {
		r.fail()
		return ""
	}
	s := string(r.b[k : k+int(n)])
	r.b = r.b[k+int(n):]
	return s
}

func (r *wireReader) num() int64 {
	n, k := binary.Varint(r.b)
	if k <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[k:]
	return n
}

func (r *wireReader) fail() {
	if r.err == nil {
		r.err = errTruncated
	}
	r.b = nil
}

// UnmarshalBinary decodes the fields of a wire-format message (without its
// length prefix) into c.
func (c *Config) UnmarshalBinary(b []byte) error {
	r := &wireReader{b: b}
	for len(r.b) > 0 && r.err == nil {
		tag := r.b[0]
		r.b = r.b[1:]
		if err := c.decodeField(tag, r); err != nil {
			return err
		}
	}
	return r.err
}

func (c *Config) decodeField(tag byte, r *wireReader) error {
	switch tag {
	case tagRoot:
		c.Root = r.raw()
	case tagRootFS:
		c.RootFS = r.raw()
	case tagHome:
		c.Home = r.raw()
	case tagSock:
		c.Sock = r.raw()
	case tagDaemon:
		c.Daemon = r.raw()
	case tagHostname:
		c.Hostname = r.raw()
	case tagLauncher:
		c.Launcher = r.raw()
	case tagLauncherELF:
		c.LauncherELF = r.raw()
	case tagArg:
		c.Args = append(c.Args, r.raw())
	case tagEnv:
		c.Env = append(c.Env, r.raw())
	case tagMask:
		c.Masks = append(c.Masks, r.raw())
	case tagTmpSizeMB:
		c.TmpSizeMB = int(r.num())
	case tagHomeFD:
		c.HomeFD = int(r.num())
	case tagRootFD:
		c.RootFD = int(r.num())
	case tagUIDLockFD:
		c.UIDLockFD = int(r.num())
	case tagRootless:
		c.Rootless = true
	case tagImageRoot:
		c.ImageRoot = true
	case tagWarm:
		c.Warm = true
	case tagLearnerRoot:
		c.LearnerRoot = true
	case tagEtc:
		if c.Etc == nil {
			c.Etc = map[string]string{}
		}
		p := r.raw()
		c.Etc[p] = r.raw()
	case tagNet:
		c.Net = &Net{Addr: r.raw(), Gateway: r.raw()}
	case tagHeartbeat:
		c.Heartbeat = &Heartbeat{FD: int(r.num()), TimeoutMS: r.num(), CheckMS: r.num()}
	default:
		return fmt.Errorf("seat config: unknown field %d (agent and seat init from different builds?)", tag)
	}
	return nil
}
