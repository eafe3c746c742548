package sealed

import (
	"errors"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	s, err := Seal(key, "pull secret", `{"username":"u","password":"p"}`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s, "password") {
		t.Fatalf("sealed value shows the secret: %s", s)
	}
	if got, err := Open(key, "pull secret", s); err != nil || got != `{"username":"u","password":"p"}` {
		t.Fatalf("open = %q, %v", got, err)
	}
	again, _ := Seal(key, "pull secret", `{"username":"u","password":"p"}`)
	if again == s {
		t.Error("two seals of one value are equal (nonce reused)")
	}
	if _, err := Open([]byte("another secret of 32 bytes......"), "pull secret", s); !errors.Is(err, ErrOpen) {
		t.Errorf("open with another key: %v", err)
	}
	if _, err := Open(key, "other purpose", s); !errors.Is(err, ErrOpen) {
		t.Errorf("open for another purpose: %v", err)
	}
	b := []byte(s)
	b[len(b)-3] ^= 1
	if _, err := Open(key, "pull secret", string(b)); !errors.Is(err, ErrOpen) {
		t.Errorf("open of an altered value: %v", err)
	}
}
