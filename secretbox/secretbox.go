// Package secretbox seals secrets at rest with AES-256-GCM.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
)

// KeySize is the length in bytes of a secretbox key (AES-256).
const KeySize = 32

// ErrOpen is returned when sealed data was tampered with, truncated, or sealed under another key.
var ErrOpen = errors.New("secretbox: cannot open sealed data")

// Box seals and opens secrets under one key; it is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: create cipher: %w", err)
	}
	// The random-nonce GCM prefixes a fresh 96-bit nonce to every output, so sealed
	// values are self-contained and nonces never need to be tracked.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: create GCM: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts and authenticates plaintext; the output carries its own nonce.
func (b *Box) Seal(plaintext []byte) ([]byte, error) {
	return b.aead.Seal(nil, nil, plaintext, nil), nil
}

// Open decrypts sealed data, returning ErrOpen when it was altered or sealed under another key.
func (b *Box) Open(sealed []byte) ([]byte, error) {
	plaintext, err := b.aead.Open(nil, nil, sealed, nil)
	if err != nil {
		return nil, ErrOpen
	}
	return plaintext, nil
}

// SealString seals s and returns it base64 encoded (standard alphabet, padded) for text columns.
func (b *Box) SealString(s string) (string, error) {
	sealed, err := b.Seal([]byte(s))
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sealed), nil
}

// OpenString opens the output of SealString.
func (b *Box) OpenString(s string) (string, error) {
	sealed, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("%w: not base64: %v", ErrOpen, err)
	}
	plaintext, err := b.Open(sealed)
	if err != nil {
		return "", err
	}
	return string(plaintext), nil
}
