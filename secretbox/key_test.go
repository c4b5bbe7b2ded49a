package secretbox_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dingfluence/dingfluence/secretbox"
)

func TestLoadKeyFromEnv(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, 32)
	raw[0], raw[31] = 0xfb, 0xff // make the base64 forms differ (+/ versus -_)
	passphrase := sha256.Sum256([]byte("correct horse battery staple"))
	shortHex := sha256.Sum256([]byte("abcdef"))
	tests := []struct {
		name string
		env  string
		want []byte
	}{
		{"hex lower", hex.EncodeToString(raw), raw},
		{"hex upper with spaces", "  " + strings.ToUpper(hex.EncodeToString(raw)) + "\n", raw},
		{"base64 std", base64.StdEncoding.EncodeToString(raw), raw},
		{"base64 raw std", base64.RawStdEncoding.EncodeToString(raw), raw},
		{"base64 url", base64.URLEncoding.EncodeToString(raw), raw},
		{"base64 raw url", base64.RawURLEncoding.EncodeToString(raw), raw},
		{"passphrase", "correct horse battery staple", passphrase[:]},
		{"short hex is a passphrase", "abcdef", shortHex[:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			key, created, err := secretbox.LoadKey(tt.env, dir)
			if err != nil {
				t.Fatalf("LoadKey: %v", err)
			}
			if created {
				t.Errorf("created = true for a key from the environment")
			}
			if !bytes.Equal(key, tt.want) {
				t.Errorf("key = %x, want %x", key, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, secretbox.KeyFileName)); !os.IsNotExist(err) {
				t.Errorf("key file written although the key came from the environment (stat: %v)", err)
			}
		})
	}
}

func TestLoadKeyCreatesFileOnceAndReusesIt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")

	first, created, err := secretbox.LoadKey("", dir)
	if err != nil {
		t.Fatalf("first LoadKey: %v", err)
	}
	if !created {
		t.Fatalf("first LoadKey: created = false, want true")
	}
	if len(first) != secretbox.KeySize {
		t.Fatalf("key length = %d", len(first))
	}
	path := filepath.Join(dir, secretbox.KeyFileName)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat key file: %v", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %v, want 0600", perm)
	}
	data, _ := os.ReadFile(path)
	if got := strings.TrimSpace(string(data)); got != hex.EncodeToString(first) {
		t.Errorf("key file holds %q, want hex of the returned key", got)
	}

	second, created, err := secretbox.LoadKey("", dir)
	if err != nil {
		t.Fatalf("second LoadKey: %v", err)
	}
	if created {
		t.Errorf("second LoadKey: created = true, want false")
	}
	if !bytes.Equal(first, second) {
		t.Errorf("second LoadKey returned a different key")
	}
	if _, err := secretbox.New(second); err != nil {
		t.Errorf("loaded key is not usable: %v", err)
	}
}

func TestLoadKeyRefusesCorruptFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, secretbox.KeyFileName)
	if err := os.WriteFile(path, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := secretbox.LoadKey("", dir); err == nil {
		t.Fatalf("LoadKey with a corrupt key file: want error")
	}
	data, _ := os.ReadFile(path)
	if string(data) != "not a key\n" {
		t.Errorf("corrupt key file was overwritten with %q", data)
	}
}
