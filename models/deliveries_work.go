package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// The dispatcher's side of the outbox: claim due deliveries, record each send before and
// after it, and put back the sends a crash cut off. Every write names the instance that
// holds the row (claimed_by), so a dispatcher that lost its lease cannot overwrite what
// another one recorded since.

// maxLastError is the size of deliveries.last_error (migration 0040).
const maxLastError = 2000

// InterruptedTwice is the last_error of a delivery cut off mid-send a second time.
const InterruptedTwice = "interrupted twice while sending; it may or may not have been delivered, so it is not sent again by itself"

// InterruptedOnce is the last_error of a delivery cut off mid-send once, put back to be sent again.
const InterruptedOnce = "interrupted while sending (the process stopped before DingTalk's answer was recorded); sending it once more"

// ClaimDueDeliveries claims up to limit deliveries that are due at now for owner: pending
// or failed with next_attempt_at ≤ now, and not held under another lease. They get
// claimed_by = owner and lease_until = now + lease; their status is unchanged until
// MarkDeliverySending. On MySQL/MariaDB the select skips rows another instance has
// locked (FOR UPDATE SKIP LOCKED); SQLite has one writer at a time, so the plain select
// inside the transaction is enough.
func (s *Store) ClaimDueDeliveries(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Delivery, error) {
	var claimed []Delivery
	err := s.InTx(ctx, func(tx *Store) error {
		q := tx.db.WithContext(ctx).
			Where("status IN ? AND next_attempt_at <= ?", []DeliveryStatus{DeliveryPending, DeliveryFailed}, now).
			Where("(lease_until IS NULL OR lease_until <= ?)", now).
			Order("next_attempt_at, id").Limit(limit)
		if err := skipLocked(q).Find(&claimed).Error; err != nil {
			return dbError("select due deliveries", err)
		}
		if len(claimed) == 0 {
			return nil
		}
		ids := make([]uint64, len(claimed))
		for i := range claimed {
			ids[i] = claimed[i].ID
		}
		until := now.Add(lease)
		err := tx.db.WithContext(ctx).Model(&Delivery{}).Where("id IN ?", ids).
			Updates(map[string]any{"claimed_by": owner, "lease_until": until, "updated_at": now}).Error
		if err != nil {
			return dbError("claim deliveries", err)
		}
		for i := range claimed {
			claimed[i].ClaimedBy, claimed[i].LeaseUntil = owner, &until
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// MarkDeliverySending records, in its own committed transaction, that owner is about to
// send delivery id: status sending, attempts + 1, the lease renewed to leaseUntil. It
// returns false when owner no longer holds the row (its lease ran out and another
// instance took it), in which case nothing must be sent.
func (s *Store) MarkDeliverySending(ctx context.Context, id uint64, owner string, now, leaseUntil time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Model(&Delivery{}).
		Where("id = ? AND claimed_by = ? AND status IN ?", id, owner, []DeliveryStatus{DeliveryPending, DeliveryFailed}).
		Updates(map[string]any{
			"status": DeliverySending, "attempts": gorm.Expr("attempts + 1"),
			"lease_until": leaseUntil, "updated_at": now,
		})
	if res.Error != nil {
		return false, dbError(fmt.Sprintf("mark delivery %d sending", id), res.Error)
	}
	return res.RowsAffected == 1, nil
}

// DeliveryOutcome is what became of one send, as the dispatcher records it.
type DeliveryOutcome struct {
	Status DeliveryStatus // sent, failed, dead or unknown
	TaskID int64          // sent: DingTalk's task_id
	// NextAttempt is when a failed delivery is due again.
	NextAttempt time.Time
	ErrCode     string // DingTalk's code, "" when the failure was not an answer of DingTalk's
	Error       string // what went wrong, cut to the column
}

// RecordDeliveryOutcome ends owner's send of delivery id with o and releases the lease.
// It returns false when the row is no longer owner's sending row (recovered as
// interrupted meanwhile); the outcome is then not written.
func (s *Store) RecordDeliveryOutcome(ctx context.Context, id uint64, owner string, now time.Time, o DeliveryOutcome) (bool, error) {
	set := map[string]any{
		"status": o.Status, "claimed_by": "", "lease_until": nil, "updated_at": now,
		"errcode": TruncateRunes(o.ErrCode, 32), "last_error": TruncateRunes(o.Error, maxLastError),
	}
	switch o.Status {
	case DeliverySent:
		set["task_id"], set["sent_at"] = o.TaskID, now
	case DeliveryFailed:
		set["next_attempt_at"] = o.NextAttempt
	case DeliveryDead, DeliveryUnknown:
	default:
		return false, fmt.Errorf("record delivery %d: %q is not an outcome", id, o.Status)
	}
	res := s.db.WithContext(ctx).Model(&Delivery{}).
		Where("id = ? AND claimed_by = ? AND status = ?", id, owner, DeliverySending).Updates(set)
	if res.Error != nil {
		return false, dbError(fmt.Sprintf("record delivery %d %s", id, o.Status), res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ReleaseDelivery hands back a claimed delivery owner did not start sending (the
// dispatcher is stopping, or sending is switched off), so it is due again at once.
func (s *Store) ReleaseDelivery(ctx context.Context, id uint64, owner string, now time.Time) error {
	err := s.db.WithContext(ctx).Model(&Delivery{}).
		Where("id = ? AND claimed_by = ? AND status IN ?", id, owner, []DeliveryStatus{DeliveryPending, DeliveryFailed}).
		Updates(map[string]any{"claimed_by": "", "lease_until": nil, "updated_at": now}).Error
	return dbError(fmt.Sprintf("release delivery %d", id), err)
}

// RecoverInterruptedDeliveries finds sending deliveries whose lease ran out at now (the
// process sending them died before recording DingTalk's answer). One never interrupted
// before goes back to pending with interrupted + 1, to be sent once more; one already
// interrupted once ends dead, since it may or may not have been delivered each time.
func (s *Store) RecoverInterruptedDeliveries(ctx context.Context, now time.Time) (requeued, dead int64, err error) {
	err = s.InTx(ctx, func(tx *Store) error {
		stale := tx.db.WithContext(ctx).Model(&Delivery{}).
			Where("status = ? AND lease_until IS NOT NULL AND lease_until <= ?", DeliverySending, now)
		res := stale.Session(&gorm.Session{}).Where("interrupted >= 1").Updates(map[string]any{
			"status": DeliveryDead, "claimed_by": "", "lease_until": nil, "updated_at": now,
			"errcode": "", "last_error": InterruptedTwice,
		})
		if res.Error != nil {
			return dbError("end deliveries interrupted twice", res.Error)
		}
		dead = res.RowsAffected
		res = stale.Session(&gorm.Session{}).Where("interrupted = 0").Updates(map[string]any{
			"status": DeliveryPending, "interrupted": gorm.Expr("interrupted + 1"), "next_attempt_at": now,
			"claimed_by": "", "lease_until": nil, "updated_at": now, "last_error": InterruptedOnce,
		})
		if res.Error != nil {
			return dbError("put back interrupted deliveries", res.Error)
		}
		requeued = res.RowsAffected
		return nil
	})
	return requeued, dead, err
}

// DeliveryByID returns one delivery, or ErrNotFound.
func (s *Store) DeliveryByID(ctx context.Context, id uint64) (Delivery, error) {
	var d Delivery
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&d).Error
	return d, dbError("find delivery", err)
}
