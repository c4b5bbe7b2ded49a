package secretbox

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyFileName is the file in the data directory that holds a generated key.
const KeyFileName = "secret.key"

// LoadKey returns the 32-byte key from envValue, or else from dataDir/secret.key, creating that
// file (0600, 64 hex characters) on first start; created reports whether a key was generated.
//
// envValue may be 64 hex characters or the base64 of 32 bytes. Any other non-empty value is
// treated as a passphrase and hashed with SHA-256, so an operator can paste any secret string
// rather than the app refusing to start; such a key is only as strong as the passphrase.
// Replicas sharing one database must share one key, so they need envValue set: each would
// otherwise generate its own file and could not open the others' secrets.
func LoadKey(envValue, dataDir string) (key []byte, created bool, err error) {
	if v := strings.TrimSpace(envValue); v != "" {
		return keyFromString(v), false, nil
	}
	path := filepath.Join(dataDir, KeyFileName)
	key, err = readKeyFile(path)
	if err == nil {
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	key, err = createKeyFile(dataDir, path)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it between our read and create: use theirs.
		key, err = readKeyFile(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return key, true, nil
}

// keyFromString decodes hex or base64 keys and hashes anything else.
func keyFromString(v string) []byte {
	if len(v) == hex.EncodedLen(KeySize) {
		if k, err := hex.DecodeString(v); err == nil {
			return k
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(v); err == nil && len(k) == KeySize {
			return k
		}
	}
	sum := sha256.Sum256([]byte(v))
	return sum[:]
}

func readKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secretbox: read key file: %w", err)
	}
	// Refuse rather than regenerate: a new key would make every stored secret unreadable.
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: key file %s must hold %d hex characters", path, hex.EncodedLen(KeySize))
	}
	return key, nil
}

func createKeyFile(dataDir, path string) ([]byte, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("secretbox: create data dir: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("secretbox: generate key: %w", err)
	}
	// O_EXCL so two processes starting together cannot overwrite each other's key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("secretbox: create key file: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("secretbox: write key file: %w", err)
	}
	return key, nil
}
