package models

import (
	"context"
	"strings"
	"time"
)

// DeliveryStatus is where one outbox row stands. Its life:
//
//	pending ──claim──▶ sending ──▶ sent (task_id recorded; never sent again)
//	   ▲                  │  ├──▶ failed (retryable: next_attempt_at after a jittered backoff) ──▶ pending again when due
//	   │                  │  ├──▶ dead (permanent error or retries exhausted; errcode, last_error)
//	   │                  │  └──▶ unknown (the request may have reached DingTalk but no answer came:
//	   │                  │               never repeated by itself; an admin may Retry)
//	   │                  └──(process died mid-send, lease expired)──▶ pending once more, then dead
//	   └──────────── Retry on the Deliveries screen (dead, unknown)
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryPending DeliveryStatus = "pending"
	DeliverySending DeliveryStatus = "sending"
	DeliverySent    DeliveryStatus = "sent"
	DeliveryFailed  DeliveryStatus = "failed"
	DeliveryDead    DeliveryStatus = "dead"
	DeliveryUnknown DeliveryStatus = "unknown"
)

// Delivery is one DingTalk work notification to at most 100 userids (the outbox).
type Delivery struct {
	ID      uint64 `gorm:"column:id;primaryKey"`
	EventID uint64 `gorm:"column:event_id"`
	// Seq numbers the deliveries of one event from 0.
	Seq    int    `gorm:"column:seq"`
	Locale string `gorm:"column:locale"`
	// UserIDs is the comma-joined DingTalk userids, as asyncsend_v2 takes them.
	UserIDs    string `gorm:"column:user_ids"`
	Recipients int    `gorm:"column:recipients"`
	// Message is the msg JSON exactly as it will be sent.
	Message     string         `gorm:"column:message"`
	Status      DeliveryStatus `gorm:"column:status"`
	NextAttempt time.Time      `gorm:"column:next_attempt_at"`
	Attempts    int            `gorm:"column:attempts"`
	// Interrupted counts sends a crash or restart cut off before their outcome was
	// recorded; one such send may be repeated once, never more.
	Interrupted int        `gorm:"column:interrupted"`
	ClaimedBy   string     `gorm:"column:claimed_by"`
	LeaseUntil  *time.Time `gorm:"column:lease_until"`
	TaskID      int64      `gorm:"column:task_id"`
	ErrCode     string     `gorm:"column:errcode"`
	LastError   string     `gorm:"column:last_error"`
	SentAt      *time.Time `gorm:"column:sent_at"`
	CreatedAt   time.Time  `gorm:"column:created_at"`
	UpdatedAt   time.Time  `gorm:"column:updated_at"`
}

// TableName implements gorm's tabler.
func (Delivery) TableName() string { return "deliveries" }

// UserIDList returns the delivery's userids.
func (d Delivery) UserIDList() []string {
	if d.UserIDs == "" {
		return nil
	}
	return strings.Split(d.UserIDs, ",")
}

// DeliveriesOfEvent returns an event's deliveries in send order.
func (s *Store) DeliveriesOfEvent(ctx context.Context, eventID uint64) ([]Delivery, error) {
	var ds []Delivery
	err := s.db.WithContext(ctx).Where("event_id = ?", eventID).Order("seq, id").Find(&ds).Error
	return ds, dbError("list deliveries of event", err)
}
