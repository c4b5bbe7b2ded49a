package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// The Deliveries screen's queries: recent events with their figures, one event with its
// deliveries and dropped watchers, and Retry.

// Bounds of one page of the Deliveries screen.
const (
	defaultDeliveryEventLimit = 25
	maxDeliveryEventLimit     = 200
	// maxDroppedShown bounds the dropped watchers one event's page lists; the event's
	// counts still give them all.
	maxDroppedShown = 500
)

// ErrNotRetryable is returned by RetryDelivery for a delivery that is not dead or unknown.
var ErrNotRetryable = errors.New("only a dead or unknown delivery can be retried")

// DeliveryEventQuery selects a page of events, newest first.
type DeliveryEventQuery struct {
	Status EventStatus // "" for every status
	// Search matches the page title as a substring (wildcards match themselves).
	Search        string
	Offset, Limit int
}

// DeliverySummary counts an event's deliveries by status.
type DeliverySummary map[DeliveryStatus]int

// DeliveryEventRow is one event as the screen lists it.
type DeliveryEventRow struct {
	Event
	Deliveries DeliverySummary
}

// DeliveryEventPage is one page of events.
type DeliveryEventPage struct {
	Rows  []DeliveryEventRow
	Total int
	// InFlight says work is still going on somewhere (an event pending or waiting, a
	// delivery pending, sending or failed), so the screen should keep refreshing.
	InFlight bool
}

// DeliveryEvents returns the page of events q selects, newest first.
func (s *Store) DeliveryEvents(ctx context.Context, q DeliveryEventQuery) (DeliveryEventPage, error) {
	if q.Limit <= 0 {
		q.Limit = defaultDeliveryEventLimit
	}
	q.Limit = min(q.Limit, maxDeliveryEventLimit)
	q.Offset = max(q.Offset, 0)
	db := s.db.WithContext(ctx)
	base := db.Model(&Event{})
	if q.Status != "" {
		base = base.Where("status = ?", q.Status)
	}
	if search := strings.TrimSpace(q.Search); search != "" {
		base = base.Where("title LIKE ? ESCAPE '!'", likeContains(search))
	}
	base = base.Session(&gorm.Session{})
	var page DeliveryEventPage
	var total int64
	if err := base.Count(&total).Error; err != nil {
		return page, dbError("count events", err)
	}
	page.Total = int(total)
	var events []Event
	if err := base.Order("received_at DESC, id DESC").Offset(q.Offset).Limit(q.Limit).Find(&events).Error; err != nil {
		return page, dbError("list events", err)
	}
	ids := make([]uint64, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	summaries, err := s.deliverySummaries(ctx, ids)
	if err != nil {
		return page, err
	}
	for _, e := range events {
		page.Rows = append(page.Rows, DeliveryEventRow{Event: e, Deliveries: summaries[e.ID]})
	}
	page.InFlight, err = s.workInFlight(ctx)
	return page, err
}

func (s *Store) deliverySummaries(ctx context.Context, eventIDs []uint64) (map[uint64]DeliverySummary, error) {
	out := map[uint64]DeliverySummary{}
	if len(eventIDs) == 0 {
		return out, nil
	}
	var counts []struct {
		EventID uint64
		Status  DeliveryStatus
		N       int
	}
	err := s.db.WithContext(ctx).Model(&Delivery{}).Select("event_id, status, COUNT(*) AS n").
		Where("event_id IN ?", eventIDs).Group("event_id, status").Scan(&counts).Error
	if err != nil {
		return nil, dbError("count deliveries", err)
	}
	for _, c := range counts {
		if out[c.EventID] == nil {
			out[c.EventID] = DeliverySummary{}
		}
		out[c.EventID][c.Status] = c.N
	}
	return out, nil
}

// eventInFlight and deliveryInFlight are the states that change without anyone acting.
func eventInFlight() []EventStatus { return []EventStatus{EventPending, EventWaiting} }

func deliveryInFlight() []DeliveryStatus {
	return []DeliveryStatus{DeliveryPending, DeliverySending, DeliveryFailed}
}

// workInFlight reports whether any event or delivery is still on its way; both probes
// are index ranges (idx_events_work, idx_deliveries_work lead with status).
func (s *Store) workInFlight(ctx context.Context) (bool, error) {
	db := s.db.WithContext(ctx)
	var ids []uint64
	if err := db.Model(&Event{}).Where("status IN ?", eventInFlight()).Limit(1).Pluck("id", &ids).Error; err != nil {
		return false, dbError("look for events in flight", err)
	}
	if len(ids) > 0 {
		return true, nil
	}
	if err := db.Model(&Delivery{}).Where("status IN ?", deliveryInFlight()).Limit(1).Pluck("id", &ids).Error; err != nil {
		return false, dbError("look for deliveries in flight", err)
	}
	return len(ids) > 0, nil
}

// DeliveryEventDetail is one event with its deliveries and the watchers it dropped.
type DeliveryEventDetail struct {
	Event      Event
	Deliveries []Delivery
	// Dropped are the watchers not notified, with why, at most maxDroppedShown.
	Dropped []EventRecipient
	// InFlight says the event or one of its deliveries is still on its way.
	InFlight bool
}

// DeliveryEventDetail returns event id with its deliveries and dropped watchers, or
// ErrNotFound.
func (s *Store) DeliveryEventDetail(ctx context.Context, id uint64) (DeliveryEventDetail, error) {
	var d DeliveryEventDetail
	var err error
	if d.Event, err = s.EventByID(ctx, id); err != nil {
		return d, err
	}
	if d.Deliveries, err = s.DeliveriesOfEvent(ctx, id); err != nil {
		return d, err
	}
	err = s.db.WithContext(ctx).Where("event_id = ? AND outcome <> ?", id, RecipientSent).
		Order("outcome, display_name, id").Limit(maxDroppedShown).Find(&d.Dropped).Error
	if err != nil {
		return d, dbError("list dropped watchers", err)
	}
	for _, st := range eventInFlight() {
		d.InFlight = d.InFlight || d.Event.Status == st
	}
	for _, del := range d.Deliveries {
		for _, st := range deliveryInFlight() {
			d.InFlight = d.InFlight || del.Status == st
		}
	}
	return d, nil
}

// RetryDelivery moves a dead or unknown delivery of event eventID back to pending, due
// at now, with a fresh set of attempts (a delivery that died of exhausted retries would
// otherwise die again at its first transient failure), and audits who did it and how
// many attempts it had used, in one transaction. It returns
// ErrNotFound for no such delivery of that event and ErrNotRetryable for one in another
// state.
func (s *Store) RetryDelivery(ctx context.Context, eventID, id uint64, actor, address string, now time.Time) error {
	return s.InTx(ctx, func(tx *Store) error {
		var d Delivery
		if err := tx.db.WithContext(ctx).Where("id = ? AND event_id = ?", id, eventID).Take(&d).Error; err != nil {
			return dbError("find delivery to retry", err)
		}
		res := tx.db.WithContext(ctx).Model(&Delivery{}).
			Where("id = ? AND status IN ?", id, []DeliveryStatus{DeliveryDead, DeliveryUnknown}).
			Updates(map[string]any{
				"status": DeliveryPending, "next_attempt_at": now, "attempts": 0, "claimed_by": "", "lease_until": nil, "updated_at": now,
			})
		if res.Error != nil {
			return dbError("retry delivery", res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("retry delivery %d (%s): %w", id, d.Status, ErrNotRetryable)
		}
		return audit(tx.db.WithContext(ctx), AuditEntry{Actor: actor, Action: ActionDeliveryRetry, Address: address,
			Details: fmt.Sprintf("delivery %d of event %d (was %s after %d attempts)", id, eventID, d.Status, d.Attempts)})
	})
}
