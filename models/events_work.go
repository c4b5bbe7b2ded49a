package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrClaimLost is returned when a worker finishes an event it no longer holds: its lease
// ran out and another instance claimed it, or it left the state the worker claimed it in.
// Nothing was written; the other holder does the work.
var ErrClaimLost = errors.New("event claim lost")

// recipientBatch and deliveryBatch size the multi-row INSERTs of one fan-out: 10,000
// watchers become ten statements, well inside MySQL's 65,535 placeholders.
const (
	recipientBatch = 1000
	deliveryBatch  = 100
	userKeyBatch   = 1000
)

// EventDetails is what enrichment learned of the content over Confluence REST, stored on
// the event (and refreshed at fan-out from the latest version).
type EventDetails struct {
	Title          string
	SpaceKey       string
	SpaceName      string
	Version        int
	VersionMessage string
	MinorEdit      bool
	WebURL         string
	DiffURL        string
	ActorName      string
}

// columns are d's values by column, for an UPDATE; text is cut to the column sizes of
// migration 0040 so a long title cannot fail the write on MySQL.
func (d EventDetails) columns() map[string]any {
	return map[string]any{
		"title":           TruncateRunes(d.Title, 500),
		"space_key":       TruncateRunes(d.SpaceKey, 255),
		"space_name":      TruncateRunes(d.SpaceName, 500),
		"version":         d.Version,
		"version_message": TruncateRunes(d.VersionMessage, 2000),
		"minor_edit":      d.MinorEdit,
		"web_url":         TruncateRunes(d.WebURL, 1000),
		"diff_url":        TruncateRunes(d.DiffURL, 1000),
		"actor_name":      TruncateRunes(d.ActorName, 255),
	}
}

// ClaimEvents claims up to limit events in status that are due (due_at ≤ now) and not
// held by a live lease, for instance until now+lease, and returns them oldest due first.
// On MySQL/MariaDB the rows are read FOR UPDATE SKIP LOCKED, so instances claiming at
// the same time get disjoint rows without waiting for each other; SQLite has one writer
// at a time (immediate transactions), which serialises the claims by itself.
func (s *Store) ClaimEvents(ctx context.Context, status EventStatus, instance string, now time.Time, lease time.Duration, limit int) ([]Event, error) {
	var events []Event
	err := s.InTx(ctx, func(tx *Store) error {
		events = nil
		q := tx.db.WithContext(ctx).
			Where("status = ? AND due_at <= ? AND (lease_until IS NULL OR lease_until <= ?)", status, now, now).
			Order("due_at, id").Limit(limit)
		if err := skipLocked(q).Find(&events).Error; err != nil {
			return dbError("claim events", err)
		}
		if len(events) == 0 {
			return nil
		}
		ids := make([]uint64, len(events))
		until := now.Add(lease)
		for i := range events {
			ids[i] = events[i].ID
			events[i].ClaimedBy, events[i].LeaseUntil = instance, &until
		}
		err := tx.db.WithContext(ctx).Model(&Event{}).Where("id IN ?", ids).
			Updates(map[string]any{"claimed_by": instance, "lease_until": until}).Error
		return dbError("claim events", err)
	})
	if err != nil {
		return nil, err
	}
	return events, nil
}

// heldBy narrows a query to event id while instance holds it in status.
func heldBy(db *gorm.DB, id uint64, instance string, status EventStatus) *gorm.DB {
	return db.Model(&Event{}).Where("id = ? AND status = ? AND claimed_by = ?", id, status, instance)
}

// updateHeld applies columns to event id if instance still holds it in status, else
// returns ErrClaimLost.
func updateHeld(ctx context.Context, db *gorm.DB, step string, id uint64, instance string, status EventStatus, columns map[string]any) error {
	res := heldBy(db.WithContext(ctx), id, instance, status).Updates(columns)
	if res.Error != nil {
		return dbError(step, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%s: event %d: %w", step, id, ErrClaimLost)
	}
	return nil
}

// SkipEvent ends event id, held by instance in status from, as skipped for reason,
// storing what was learned of the content (details may be nil) and a detail message.
func (s *Store) SkipEvent(ctx context.Context, id uint64, instance string, from EventStatus, reason SkipReason, details *EventDetails, detail string, now time.Time) error {
	cols := map[string]any{
		"status": EventSkipped, "skip_reason": reason, "last_error": TruncateRunes(detail, 2000),
		"lease_until": nil, "processed_at": now, "waiting_key": nil,
	}
	if details != nil {
		for k, v := range details.columns() {
			cols[k] = v
		}
	}
	return updateHeld(ctx, s.db, "skip event", id, instance, from, cols)
}

// RetryEvent gives event id back after a failure that may pass: it stays in status
// from, is due again at due, and counts the attempt with its error.
func (s *Store) RetryEvent(ctx context.Context, id uint64, instance string, from EventStatus, due time.Time, lastError string) error {
	return updateHeld(ctx, s.db, "retry event", id, instance, from, map[string]any{
		"attempts": gorm.Expr("attempts + 1"), "due_at": due, "last_error": TruncateRunes(lastError, 2000), "lease_until": nil,
	})
}

// DeferEvent gives event id back unchanged, due again at due, without counting an
// attempt: it has to wait for another event of its page (see EnrichEvent).
func (s *Store) DeferEvent(ctx context.Context, id uint64, instance string, from EventStatus, due time.Time) error {
	return updateHeld(ctx, s.db, "defer event", id, instance, from, map[string]any{"due_at": due, "lease_until": nil})
}

// FailEvent ends event id as failed with the reason: Confluence refused for good, or
// the attempts ran out.
func (s *Store) FailEvent(ctx context.Context, id uint64, instance string, from EventStatus, reason string, now time.Time) error {
	return updateHeld(ctx, s.db, "fail event", id, instance, from, map[string]any{
		"status": EventFailed, "attempts": gorm.Expr("attempts + 1"), "last_error": TruncateRunes(reason, 2000),
		"lease_until": nil, "processed_at": now, "waiting_key": nil,
	})
}

// EnrichOutcome is what EnrichEvent made of an event.
type EnrichOutcome string

// The outcomes of EnrichEvent.
const (
	// EnrichWaiting: the event waits in a window of its own (due at now + window).
	EnrichWaiting EnrichOutcome = "waiting"
	// EnrichCoalesced: the event took the place of the one waiting for its page, with
	// its due_at and its edits plus one; Replaced is that one, now coalesced.
	EnrichCoalesced EnrichOutcome = "coalesced"
	// EnrichDuplicate: another event already covers this version; skipped duplicate.
	EnrichDuplicate EnrichOutcome = "duplicate"
	// EnrichDeferred: another event of the page is being fanned out right now, or waits
	// with coalescing off; this one stays pending until then.
	EnrichDeferred EnrichOutcome = "deferred"
)

// Enrichment is an enriched event ready to wait in its coalescing window.
type Enrichment struct {
	ID        uint64
	Instance  string
	ContentID string
	Details   EventDetails
	// DedupeKey is "<content id>:<version>".
	DedupeKey string
	// Window is the coalescing window; 0 turns coalescing off.
	Window time.Duration
	Now    time.Time
	// DeferFor is how long a deferred event waits before it is looked at again.
	DeferFor time.Duration
}

// EnrichResult says what EnrichEvent did.
type EnrichResult struct {
	Outcome EnrichOutcome
	// Replaced is the event that became coalesced (EnrichCoalesced only).
	Replaced uint64
	// EditCount and DueAt are the event's after the change (waiting outcomes).
	EditCount int
	DueAt     time.Time
}

// EnrichEvent stores the enrichment of a pending event held by e.Instance and moves it
// on, in one transaction: a version another event already covers is skipped duplicate;
// if another event of the same page waits in its window, that one becomes coalesced
// (coalesced_into this one) and this one waits in its place with the old due_at and one
// edit more, so the window runs from the first publish; otherwise it waits until
// now + window. While the waiting event is leased by a fan-out (or coalescing is off) the
// event is deferred instead: it must not merge into a notification already being sent.
func (s *Store) EnrichEvent(ctx context.Context, e Enrichment) (EnrichResult, error) {
	var out EnrichResult
	err := s.InTx(ctx, func(tx *Store) error {
		db := tx.db.WithContext(ctx)
		var self Event
		if err := db.Where("id = ? AND status = ? AND claimed_by = ?", e.ID, EventPending, e.Instance).Take(&self).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return fmt.Errorf("enrich event %d: %w", e.ID, ErrClaimLost)
			}
			return dbError("enrich event", err)
		}
		var dups int64
		if err := db.Model(&Event{}).Where("dedupe_key = ? AND id <> ?", e.DedupeKey, e.ID).Count(&dups).Error; err != nil {
			return dbError("enrich event: dedupe", err)
		}
		if dups > 0 {
			out = EnrichResult{Outcome: EnrichDuplicate}
			d := e.Details
			return tx.SkipEvent(ctx, e.ID, e.Instance, EventPending, SkipDuplicate, &d,
				"version "+e.DedupeKey+" is already covered by another event", e.Now)
		}

		var waiting []Event
		q := db.Where("waiting_key = ? AND status = ?", e.ContentID, EventWaiting).Limit(1)
		if Dialect(tx.db) == DialectMySQL {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		if err := q.Find(&waiting).Error; err != nil {
			return dbError("enrich event: waiting", err)
		}
		cols := e.Details.columns()
		cols["dedupe_key"] = e.DedupeKey
		cols["status"] = EventWaiting
		cols["waiting_key"] = e.ContentID
		cols["lease_until"] = nil
		cols["attempts"] = 0
		cols["last_error"] = ""

		if len(waiting) == 1 {
			old := waiting[0]
			leased := old.LeaseUntil != nil && old.LeaseUntil.After(e.Now)
			if leased || e.Window <= 0 {
				out = EnrichResult{Outcome: EnrichDeferred, DueAt: e.Now.Add(e.DeferFor)}
				return tx.DeferEvent(ctx, e.ID, e.Instance, EventPending, out.DueAt)
			}
			res := db.Model(&Event{}).Where("id = ? AND status = ?", old.ID, EventWaiting).Updates(map[string]any{
				"status": EventCoalesced, "coalesced_into": e.ID, "waiting_key": nil, "processed_at": e.Now,
			})
			if res.Error != nil {
				return dbError("enrich event: coalesce", res.Error)
			}
			if res.RowsAffected == 0 {
				return fmt.Errorf("enrich event: coalesce event %d: %w", old.ID, ErrClaimLost)
			}
			out = EnrichResult{Outcome: EnrichCoalesced, Replaced: old.ID, EditCount: old.EditCount + self.EditCount, DueAt: old.DueAt}
		} else {
			out = EnrichResult{Outcome: EnrichWaiting, EditCount: self.EditCount, DueAt: e.Now.Add(max(e.Window, 0))}
		}
		cols["edit_count"] = out.EditCount
		cols["due_at"] = out.DueAt
		return updateHeld(ctx, tx.db, "enrich event", e.ID, e.Instance, EventPending, cols)
	})
	if err != nil {
		return EnrichResult{}, err
	}
	return out, nil
}

// PlannedRecipient is one watcher's outcome as a fan-out decided it; Delivery is the
// index of its delivery in Notification.Deliveries, or -1 when it was dropped.
type PlannedRecipient struct {
	EventRecipient
	Delivery int
}

// Notification is the result of one fan-out, written by NotifyEvent in one transaction.
type Notification struct {
	ID       uint64
	Instance string
	// Status is EventNotified, or EventSkipped with Skip (no_recipients).
	Status    EventStatus
	Skip      SkipReason
	Details   EventDetails
	DedupeKey string
	Counts    EventCounts
	// Deliveries are written with their Seq as given; IDs are filled in.
	Deliveries []Delivery
	Recipients []PlannedRecipient
	Now        time.Time
}

// NotifyEvent records a fan-out of the waiting event n.ID held by n.Instance: its
// deliveries (the outbox), one event_recipients row per watcher, the latest details and
// the counts, and the event's end state, all in one transaction: either the event is
// notified with every delivery, or nothing is written. DedupeKey moves to the version
// actually notified unless another event already holds it.
func (s *Store) NotifyEvent(ctx context.Context, n Notification) error {
	return s.InTx(ctx, func(tx *Store) error {
		db := tx.db.WithContext(ctx)
		cols := n.Details.columns()
		cols["status"] = n.Status
		cols["skip_reason"] = n.Skip
		cols["waiting_key"] = nil
		cols["lease_until"] = nil
		cols["processed_at"] = n.Now
		cols["last_error"] = ""
		n.Counts.DeliveriesWritten = len(n.Deliveries)
		for k, v := range countColumns(n.Counts) {
			cols[k] = v
		}
		if n.DedupeKey != "" {
			var taken int64
			if err := db.Model(&Event{}).Where("dedupe_key = ? AND id <> ?", n.DedupeKey, n.ID).Count(&taken).Error; err != nil {
				return dbError("notify event: dedupe", err)
			}
			if taken == 0 {
				cols["dedupe_key"] = n.DedupeKey
			}
		}
		if err := updateHeld(ctx, tx.db, "notify event", n.ID, n.Instance, EventWaiting, cols); err != nil {
			return err
		}
		for i := range n.Deliveries {
			n.Deliveries[i].ID = 0
			n.Deliveries[i].EventID = n.ID
		}
		if len(n.Deliveries) > 0 {
			if err := db.CreateInBatches(n.Deliveries, deliveryBatch).Error; err != nil {
				return dbError("notify event: deliveries", err)
			}
		}
		rows := make([]EventRecipient, len(n.Recipients))
		for i, r := range n.Recipients {
			rows[i] = r.EventRecipient
			rows[i].ID = 0
			rows[i].EventID = n.ID
			rows[i].Detail = TruncateRunes(rows[i].Detail, 500)
			if r.Delivery >= 0 && r.Delivery < len(n.Deliveries) {
				id := n.Deliveries[r.Delivery].ID
				rows[i].DeliveryID = &id
			}
		}
		if len(rows) > 0 {
			if err := db.CreateInBatches(rows, recipientBatch).Error; err != nil {
				return dbError("notify event: recipients", err)
			}
		}
		return nil
	})
}

func countColumns(c EventCounts) map[string]any {
	return map[string]any{
		"watchers": c.Watchers, "recipients": c.Recipients,
		"dropped_no_view": c.DroppedNoView, "dropped_undecided": c.DroppedUndecided,
		"dropped_unmatched": c.DroppedUnmatched, "dropped_disabled": c.DroppedDisabled,
		"dropped_own_edit": c.DroppedOwnEdit, "dropped_unknown": c.DroppedUnknown,
		"confluence_calls": c.ConfluenceCalls, "deliveries_written": c.DeliveriesWritten,
	}
}

// UsersByUserKeys returns the users with the given Confluence userKeys, by key; keys
// nobody has are absent from the map. It asks in chunks, so 10,000 watchers are ten
// queries.
func (s *Store) UsersByUserKeys(ctx context.Context, keys []string) (map[string]User, error) {
	out := make(map[string]User, len(keys))
	for start := 0; start < len(keys); start += userKeyBatch {
		chunk := keys[start:min(start+userKeyBatch, len(keys))]
		var users []User
		if err := s.db.WithContext(ctx).Where("user_key IN ?", chunk).Find(&users).Error; err != nil {
			return nil, dbError("users by user key", err)
		}
		for _, u := range users {
			if u.UserKey != nil {
				out[*u.UserKey] = u
			}
		}
	}
	return out, nil
}

// EventRecipients returns the watcher outcomes of an event, in the order written.
func (s *Store) EventRecipients(ctx context.Context, eventID uint64) ([]EventRecipient, error) {
	var rs []EventRecipient
	err := s.db.WithContext(ctx).Where("event_id = ?", eventID).Order("id").Find(&rs).Error
	return rs, dbError("list event recipients", err)
}
