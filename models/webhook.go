package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// WebhookSecretMax is the longest webhook secret Confluence accepts (its form and REST
// API cap the secret at 255 characters).
const WebhookSecretMax = 255

// webhookSecretRow is the part of the confluence_settings row that holds the webhook
// secret. It is kept apart from ConfluenceSettings on purpose: saving the Confluence
// form upserts that struct's columns, and so can never touch (or wipe) the secret.
type webhookSecretRow struct {
	ID                  uint       `gorm:"column:id;primaryKey"`
	WebhookSecretSealed string     `gorm:"column:webhook_secret_sealed"`
	WebhookSecretSetAt  *time.Time `gorm:"column:webhook_secret_set_at"`
}

func (webhookSecretRow) TableName() string { return "confluence_settings" }

// WebhookSecret is the stored Confluence webhook secret.
type WebhookSecret struct {
	// Secret is the plaintext; "" when none is set (or it cannot be opened).
	Secret string
	// SetAt is when it was generated; nil when none is set.
	SetAt *time.Time
}

// LoadWebhookSecret returns the stored webhook secret. A secret sealed under another key
// is returned without its value (SetAt kept) and with an error matching
// ErrSecretUnreadable: no request can be verified until a new one is generated.
func (s *Store) LoadWebhookSecret(ctx context.Context) (WebhookSecret, error) {
	var row webhookSecretRow
	err := s.db.WithContext(ctx).Select("id", "webhook_secret_sealed", "webhook_secret_set_at").
		Where("id = ?", settingsID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return WebhookSecret{}, nil
	}
	if err != nil {
		return WebhookSecret{}, dbError("load webhook secret", err)
	}
	secret, ok, err := s.openSealed(row.WebhookSecretSealed)
	if err != nil {
		return WebhookSecret{SetAt: row.WebhookSecretSetAt}, fmt.Errorf("load webhook secret: %w", err)
	}
	if !ok {
		return WebhookSecret{}, nil
	}
	return WebhookSecret{Secret: secret, SetAt: row.WebhookSecretSetAt}, nil
}

// SetWebhookSecret stores secret sealed, replacing any other at once, and audits that
// actor did so (never the value). Before the Confluence connection was first saved, the
// row is created with the default connection settings, so the form still shows
// Confluence's default groups.
func (s *Store) SetWebhookSecret(ctx context.Context, secret string, now time.Time, actor string) error {
	if secret == "" || len(secret) > WebhookSecretMax {
		return fmt.Errorf("set webhook secret: length %d is not 1..%d", len(secret), WebhookSecretMax)
	}
	sealed, err := s.box.SealString(secret)
	if err != nil {
		return fmt.Errorf("set webhook secret: seal: %w", err)
	}
	return s.InTx(ctx, func(tx *Store) error {
		var row webhookSecretRow
		err := tx.db.Select("id", "webhook_secret_sealed").Where("id = ?", settingsID).Take(&row).Error
		details := "webhook secret replaced"
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			def := DefaultConfluenceSettings()
			if err := tx.db.Create(&def).Error; err != nil {
				return dbError("set webhook secret: create confluence settings", err)
			}
			details = "webhook secret generated"
		case err != nil:
			return dbError("set webhook secret", err)
		case row.WebhookSecretSealed == "":
			details = "webhook secret generated"
		}
		at := now.UTC().Truncate(time.Millisecond)
		err = tx.db.Model(&webhookSecretRow{}).Where("id = ?", settingsID).
			Updates(map[string]any{"webhook_secret_sealed": sealed, "webhook_secret_set_at": at}).Error
		if err != nil {
			return dbError("set webhook secret", err)
		}
		return audit(tx.db, AuditEntry{Actor: actor, Action: ActionWebhookSecret, Details: details})
	})
}

// WebhookRefusal is why a webhook request was refused; the fixed set the screen and the
// metrics count by.
type WebhookRefusal string

// Refusal reasons.
const (
	RefusalBadSignature WebhookRefusal = "bad_signature" // X-Hub-Signature does not match, or is not sha256=<hex>
	RefusalNoSignature  WebhookRefusal = "no_signature"  // no X-Hub-Signature
	RefusalNoSecret     WebhookRefusal = "no_secret"     // no secret generated yet (or unreadable): nothing can be verified
	RefusalTooLarge     WebhookRefusal = "too_large"     // body over 1 MiB
	RefusalNotJSON      WebhookRefusal = "not_json"      // Content-Type is not application/json
	RefusalMalformed    WebhookRefusal = "malformed"     // the body is not the JSON of a webhook
	RefusalNoContentID  WebhookRefusal = "no_content_id" // a page or blog event without a (valid) content id
	RefusalUnavailable  WebhookRefusal = "unavailable"   // the database failed; counted if it could be
)

// WebhookRefusals lists every reason, in the order the screen shows them.
func WebhookRefusals() []WebhookRefusal {
	return []WebhookRefusal{RefusalBadSignature, RefusalNoSignature, RefusalNoSecret, RefusalTooLarge, RefusalNotJSON, RefusalMalformed, RefusalNoContentID, RefusalUnavailable}
}

// WebhookArrival is a kind of webhook request that was answered with success but stored
// no event.
type WebhookArrival string

// Arrival kinds.
const (
	ArrivalTest    WebhookArrival = "test"    // Confluence's Test connection
	ArrivalIgnored WebhookArrival = "ignored" // an event dingfluence does not notify on
)

// CountWebhookRefusal adds one refusal for reason to the hour of now.
func (s *Store) CountWebhookRefusal(ctx context.Context, reason WebhookRefusal, now time.Time) error {
	return dbError("count webhook refusal", s.bumpHourly(ctx, "webhook_refusals", "reason", string(reason), now))
}

// CountWebhookArrival adds one arrival of kind to the hour of now.
func (s *Store) CountWebhookArrival(ctx context.Context, kind WebhookArrival, now time.Time) error {
	return dbError("count webhook arrival", s.bumpHourly(ctx, "webhook_arrivals", "kind", string(kind), now))
}

// bumpHourly upserts one hourly counter row: a flood of requests grows a count, not a
// table. table and keyColumn are this package's constants, never input.
func (s *Store) bumpHourly(ctx context.Context, table, keyColumn, key string, now time.Time) error {
	now = now.UTC().Truncate(time.Millisecond)
	hour := now.Truncate(time.Hour)
	var sql string
	if Dialect(s.db) == DialectMySQL {
		sql = "INSERT INTO " + table + " (hour_start, " + keyColumn + ", count, last_at) VALUES (?, ?, 1, ?) " +
			"ON DUPLICATE KEY UPDATE count = count + 1, last_at = GREATEST(last_at, VALUES(last_at))"
	} else {
		sql = "INSERT INTO " + table + " (hour_start, " + keyColumn + ", count, last_at) VALUES (?, ?, 1, ?) " +
			"ON CONFLICT (hour_start, " + keyColumn + ") DO UPDATE SET count = count + 1, last_at = MAX(last_at, excluded.last_at)"
	}
	return s.db.WithContext(ctx).Exec(sql, hour, key, now).Error
}

// WebhookHealth is what the Confluence screen says about the webhook.
type WebhookHealth struct {
	// LastArrival is when the last webhook request arrived that was not refused (an
	// accepted event, a connection test, an ignored event); nil for never.
	LastArrival *time.Time
	// Refused counts the refusals since the health's start, by reason; Total sums them.
	Refused map[WebhookRefusal]int64
	Total   int64
}

// LoadWebhookHealth returns the last arrival ever and the refusals counted in the hours
// that start at or after since (pass now minus 24 hours, truncated to the hour by the
// counters themselves).
func (s *Store) LoadWebhookHealth(ctx context.Context, since time.Time) (WebhookHealth, error) {
	db := s.db.WithContext(ctx)
	h := WebhookHealth{Refused: map[WebhookRefusal]int64{}}
	// Two reads, each answered from an index or a tiny table.
	for _, q := range []*gorm.DB{
		db.Table("events").Select("received_at AS at").Where("source = ?", EventSourceWebhook).Order("received_at DESC"),
		db.Table("webhook_arrivals").Select("last_at AS at").Order("last_at DESC"),
	} {
		var got []struct{ At time.Time }
		if err := q.Limit(1).Scan(&got).Error; err != nil {
			return h, dbError("load last webhook", err)
		}
		if len(got) == 1 && (h.LastArrival == nil || got[0].At.After(*h.LastArrival)) {
			at := got[0].At.UTC()
			h.LastArrival = &at
		}
	}
	var rows []struct {
		Reason string
		N      int64
	}
	err := db.Raw("SELECT reason, SUM(count) AS n FROM webhook_refusals WHERE hour_start >= ? GROUP BY reason",
		since.UTC().Truncate(time.Hour)).Scan(&rows).Error
	if err != nil {
		return h, dbError("load webhook refusals", err)
	}
	for _, r := range rows {
		h.Refused[WebhookRefusal(r.Reason)] += r.N
		h.Total += r.N
	}
	return h, nil
}

// DeleteWebhookCountsBefore removes the hourly refusal and arrival counters of hours
// that started before cutoff, returning how many rows went.
func (s *Store) DeleteWebhookCountsBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	for _, table := range []string{"webhook_refusals", "webhook_arrivals"} {
		res := s.db.WithContext(ctx).Exec("DELETE FROM "+table+" WHERE hour_start < ?", cutoff.UTC())
		if res.Error != nil {
			return n, dbError("delete old webhook counters", res.Error)
		}
		n += res.RowsAffected
	}
	return n, nil
}
