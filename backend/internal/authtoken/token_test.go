package authtoken

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestWorkspaceToken(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	keyA := WorkshopKey(secret, "wsa")
	keyB := WorkshopKey(secret, "wsb")
	if string(keyA) == string(keyB) {
		t.Fatal("workshop keys must differ per workshop")
	}
	tok, exp, err := Issue(keyA, "wsa", 3, "", 7, 15*time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(now.Add(15 * time.Minute)) {
		t.Fatalf("exp = %v", exp)
	}
	tests := []struct {
		name    string
		key     []byte
		tok     string
		ws      string
		seat    int
		at      time.Time
		wantErr error
	}{
		{"valid", keyA, tok, "wsa", 3, now.Add(time.Minute), nil},
		{"other seat", keyA, tok, "wsa", 4, now, ErrMismatch},
		{"other workshop key", keyB, tok, "wsa", 3, now, ErrInvalid},
		{"expired", keyA, tok, "wsa", 3, now.Add(16 * time.Minute), ErrExpired},
		{"garbage", keyA, "not.a.jwt", "wsa", 3, now, ErrInvalid},
		{"tampered", keyA, tok[:len(tok)-2] + "xx", "wsa", 3, now, ErrInvalid},
		{"alg none", keyA, "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJ3cyI6IndzYSIsInNlYXQiOjMsImlzcyI6ImNsYXJhdGVhY2giLCJleHAiOjQwMDAwMDAwMDB9.", "wsa", 3, now, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Verify(tt.key, tt.tok, tt.ws, tt.seat, tt.at)
			if tt.wantErr == nil {
				if err != nil || c.Role != "learner" || c.Gen != 7 {
					t.Fatalf("err=%v claims=%+v", err, c)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestCodes(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		c := Code(AccessCodeLen)
		if len(c) != AccessCodeLen || strings.Trim(c, CodeAlphabet) != "" {
			t.Fatalf("bad code %q", c)
		}
		if seen[c] {
			t.Fatalf("duplicate code %q", c)
		}
		seen[c] = true
	}
	if NormalizeCode(" ab-cd\tef ") != "ABCDEF" {
		t.Fatal("NormalizeCode")
	}
	id := NewID()
	if len(id) != 16 || strings.ToLower(id) != id {
		t.Fatalf("bad id %q", id)
	}
	if !Equal("abc", "abc") || Equal("abc", "abd") || Equal("abc", "ab") {
		t.Fatal("Equal")
	}
}

// Every character of a code is as likely as any other: each of the 25
// within a tenth of its expected count over 100,000 characters (about six
// standard deviations).
func TestCodeCharactersUniform(t *testing.T) {
	t.Parallel()
	counts := map[rune]int{}
	const n = 100_000
	for range n / AccessCodeLen {
		for _, c := range Code(AccessCodeLen) {
			counts[c]++
		}
	}
	want := float64(n/AccessCodeLen*AccessCodeLen) / float64(len(CodeAlphabet))
	for _, c := range CodeAlphabet {
		if got := float64(counts[c]); got < 0.9*want || got > 1.1*want {
			t.Errorf("%c: %v of %d characters, want about %.0f", c, got, n, want)
		}
	}
}

func BenchmarkAccessCode(b *testing.B) {
	for b.Loop() {
		Code(AccessCodeLen)
	}
}

// Access codes must carry enough entropy that a day of guessing at a rate
// no server can answer still finds no live code (docs/ARCHITECTURE.md).
func TestAccessCodesCarry74Bits(t *testing.T) {
	if bits := float64(AccessCodeLen) * math.Log2(float64(len(CodeAlphabet))); bits < 74 {
		t.Fatalf("access codes carry %.1f bits, want at least 74", bits)
	}
	if NormalizeCode("acde-fghj-kmnp-qrtu") != "ACDEFGHJKMNPQRTU" {
		t.Fatal("a code typed in groups of 4 must normalise to the code")
	}
}
