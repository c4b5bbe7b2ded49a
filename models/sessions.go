package models

import (
	"context"
	"time"
)

// DeleteExpiredSessions removes sign-in sessions that expired before now and returns how
// many it removed. The session store's own sweeper is off (it races with its shutdown), so
// the scheduler calls this instead.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Exec("DELETE FROM sessions WHERE expiry < ?", now.UTC())
	if res.Error != nil {
		return 0, dbError("delete expired sessions", res.Error)
	}
	return res.RowsAffected, nil
}
