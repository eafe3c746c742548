package terminal

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// Opcodes: the first byte of every binary WebSocket message. See
// docs/terminal-protocol.md for the byte layouts.
const (
	// client → server
	OpInput  byte = 0x01 // raw bytes for the PTY
	OpResize byte = 0x02 // u16 cols, u16 rows (big-endian)
	OpPause  byte = 0x03 // stop sending me output
	OpResume byte = 0x04 // send output again
	OpPing   byte = 0x05 // opaque payload; the server answers OpPong with it
	OpPongC  byte = 0x06 // answer to a server OpPingS, echoing its payload
	OpSkip   byte = 0x07 // drop my backlog: RESET me to the newest output

	// server → client
	OpOutput byte = 0x81 // u64 offset of the first byte, then the bytes
	OpExit   byte = 0x82 // i32 exit code
	OpPong   byte = 0x83 // the payload of the client's OpPing
	OpHello  byte = 0x84 // JSON Hello, first message of every connection
	OpReset  byte = 0x85 // u64 offset: forget the screen, output resumes here
	OpPingS  byte = 0x86 // opaque payload; the client answers OpPongC
	OpBehind byte = 0x87 // u64: the output end, sent while the client lags far behind
)

// Modes of a client.
const (
	ModeRW = "rw" // may type and resize
	ModeRO = "ro" // watches; INPUT and RESIZE are ignored
)

// WebSocket close codes the server uses besides 1000 (normal, after EXIT)
// and 1001 (daemon shutting down).
const (
	CloseBadRequest      = 4400 // bad query parameter
	CloseNotFound        = 4404 // no such session (never existed or long gone)
	CloseStalled         = 4408 // client made no progress for the stall timeout, or was silent too long
	CloseTooManySessions = 4429 // cannot create another session
)

// MaxInputFrame is the largest client message (opcode included) the server
// accepts; larger ones close the connection with 1009.
const MaxInputFrame = 64 << 10

// maxOutputData is the most output bytes in one OUTPUT frame.
const maxOutputData = 64 << 10

// Hello is the JSON payload of the HELLO frame.
type Hello struct {
	Protocol int    `json:"protocol"` // 1
	Session  string `json:"session"`
	Offset   uint64 `json:"offset"` // offset of the next output byte this connection will send (before any RESET)
	Start    uint64 `json:"start"`  // oldest offset still in the replay buffer
	End      uint64 `json:"end"`    // offset of the next byte the shell will produce
	Cols     int    `json:"cols"`
	Rows     int    `json:"rows"`
	Mode     string `json:"mode"`
	Ping     int    `json:"ping_interval_ms"` // the server pings at least this often
}

func encodeHello(h Hello) []byte {
	b, _ := json.Marshal(h)
	return append([]byte{OpHello}, b...)
}

func encodeU64(op byte, v uint64) []byte {
	b := make([]byte, 9)
	b[0] = op
	binary.BigEndian.PutUint64(b[1:], v)
	return b
}

func encodeExit(code int) []byte {
	b := make([]byte, 5)
	b[0] = OpExit
	binary.BigEndian.PutUint32(b[1:], uint32(int32(code)))
	return b
}

// EncodeResize builds a RESIZE message.
func EncodeResize(cols, rows int) []byte {
	b := make([]byte, 5)
	b[0] = OpResize
	binary.BigEndian.PutUint16(b[1:], uint16(cols))
	binary.BigEndian.PutUint16(b[3:], uint16(rows))
	return b
}

func decodeResize(p []byte) (cols, rows int, err error) {
	if len(p) != 4 {
		return 0, 0, fmt.Errorf("resize payload is %d bytes, want 4", len(p))
	}
	return int(binary.BigEndian.Uint16(p)), int(binary.BigEndian.Uint16(p[2:])), nil
}
