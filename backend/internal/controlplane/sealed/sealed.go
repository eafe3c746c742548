// Package sealed encrypts small secrets the control plane keeps in its
// database (a workshop's registry pull secret) with a key derived from
// one of its own secrets: AES-256-GCM, key = HMAC-SHA256(secret, purpose).
// A database dump alone does not reveal them.
package sealed

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

const prefix = "v1:"

// ErrOpen is a sealed value that does not open with the key (another
// secret, or tampered with).
var ErrOpen = errors.New("sealed: cannot open the value (wrong key or altered)")

func aead(secret []byte, purpose string) (cipher.AEAD, error) {
	if len(secret) < 16 {
		return nil, errors.New("sealed: the secret is shorter than 16 bytes")
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("clarateach sealed " + purpose))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext for purpose (which is also authenticated: a
// value sealed for one purpose does not open for another).
func Seal(secret []byte, purpose, plaintext string) (string, error) {
	g, err := aead(secret, purpose)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("sealed: %w", err)
	}
	out := g.Seal(nonce, nonce, []byte(plaintext), []byte(purpose))
	return prefix + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value Seal made with the same secret and purpose.
func Open(secret []byte, purpose, sealed string) (string, error) {
	g, err := aead(secret, purpose)
	if err != nil {
		return "", err
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, prefix))
	if err != nil || !strings.HasPrefix(sealed, prefix) || len(raw) < g.NonceSize() {
		return "", ErrOpen
	}
	pt, err := g.Open(nil, raw[:g.NonceSize()], raw[g.NonceSize():], []byte(purpose))
	if err != nil {
		return "", ErrOpen
	}
	return string(pt), nil
}
