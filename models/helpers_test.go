package models_test

import (
	"bytes"
	"testing"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/secretbox"
)

func testBox(t testing.TB, fill byte) *secretbox.Box {
	t.Helper()
	box, err := secretbox.New(bytes.Repeat([]byte{fill}, secretbox.KeySize))
	if err != nil {
		t.Fatalf("secretbox.New: %v", err)
	}
	return box
}

func newStore(t testing.TB, db *gorm.DB) *models.Store {
	t.Helper()
	return models.NewStore(db, testBox(t, 7))
}
