package secretbox_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/dingfluence/dingfluence/secretbox"
)

func newBox(t *testing.T, fill byte) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(bytes.Repeat([]byte{fill}, secretbox.KeySize))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func TestNewRejectsBadKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := secretbox.New(make([]byte, n)); err == nil {
			t.Errorf("New with %d-byte key: want error", n)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	box := newBox(t, 1)
	tests := []struct {
		name      string
		plaintext string
	}{
		{"empty", ""},
		{"ascii", "dingtalk-app-secret"},
		{"unicode", "钉钉密钥 🔑"},
		{"long", strings.Repeat("x", 10000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed, err := box.Seal([]byte(tt.plaintext))
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if tt.plaintext != "" && bytes.Contains(sealed, []byte(tt.plaintext)) {
				t.Fatalf("sealed output contains the plaintext")
			}
			got, err := box.Open(sealed)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if string(got) != tt.plaintext {
				t.Fatalf("Open = %q, want %q", got, tt.plaintext)
			}

			s, err := box.SealString(tt.plaintext)
			if err != nil {
				t.Fatalf("SealString: %v", err)
			}
			if _, err := base64.StdEncoding.DecodeString(s); err != nil {
				t.Fatalf("SealString output is not base64: %v", err)
			}
			gotS, err := box.OpenString(s)
			if err != nil {
				t.Fatalf("OpenString: %v", err)
			}
			if gotS != tt.plaintext {
				t.Fatalf("OpenString = %q, want %q", gotS, tt.plaintext)
			}
		})
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	box := newBox(t, 1)
	a, _ := box.SealString("same")
	b, _ := box.SealString("same")
	if a == b {
		t.Fatalf("sealing the same plaintext twice gave identical output %q", a)
	}
}

func TestOpenRejectsTamperingAndWrongKey(t *testing.T) {
	box := newBox(t, 1)
	sealed, err := box.Seal([]byte("secret"))
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	flip := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 0x01
		return c
	}
	tests := []struct {
		name   string
		box    *secretbox.Box
		sealed []byte
	}{
		{"nonce flipped", box, flip(0)},
		{"ciphertext flipped", box, flip(12)},
		{"tag flipped", box, flip(len(sealed) - 1)},
		{"truncated", box, sealed[:len(sealed)-1]},
		{"too short", box, sealed[:5]},
		{"empty", box, nil},
		{"wrong key", newBox(t, 2), sealed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.box.Open(tt.sealed)
			if !errors.Is(err, secretbox.ErrOpen) {
				t.Fatalf("Open = %q, %v; want ErrOpen", got, err)
			}
		})
	}
}

func TestOpenStringRejectsBadInput(t *testing.T) {
	box := newBox(t, 1)
	good, _ := box.SealString("secret")
	tests := []struct {
		name string
		in   string
	}{
		{"not base64", "%%%"},
		{"empty", ""},
		{"wrong key", func() string { s, _ := newBox(t, 2).SealString("secret"); return s }()},
		{"tampered", good[:len(good)-4] + "AAAA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := box.OpenString(tt.in); !errors.Is(err, secretbox.ErrOpen) {
				t.Fatalf("OpenString = %q, %v; want ErrOpen", got, err)
			}
		})
	}
}
