package logging

import (
	"strings"
	"testing"
)

func TestValidRequestID(t *testing.T) {
	for id, want := range map[string]bool{
		"":                      false,
		"a":                     true,
		"req-1.2_AZaz09":        true,
		strings.Repeat("x", 64): true,
		strings.Repeat("x", 65): false,
		"has space":             false,
		"new\nline":             false,
		"slash/":                false,
		"é":                     false,
		"semi;colon":            false,
		"\x00":                  false,
	} {
		if got := ValidRequestID(id); got != want {
			t.Errorf("ValidRequestID(%q) = %v, want %v", id, got, want)
		}
	}
}
