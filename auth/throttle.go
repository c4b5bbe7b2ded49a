package auth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Throttle limits failed sign-ins per key with a token bucket: a burst of
// attempts is allowed (people mistype), then one more per interval.
type Throttle struct {
	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	every    time.Duration
	burst    int
	now      func() time.Time
}

// NewThrottle allows burst failures per key, then one per every.
func NewThrottle(burst int, every time.Duration, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{limiters: map[string]*rate.Limiter{}, every: every, burst: burst, now: now}
}

func (t *Throttle) limiter(key string) *rate.Limiter {
	l, ok := t.limiters[key]
	if !ok {
		l = rate.NewLimiter(rate.Every(t.every), t.burst)
		t.limiters[key] = l
	}
	return l
}

// Wait returns how long the caller must wait before another attempt for any
// of keys is allowed; zero means go ahead.
func (t *Throttle) Wait(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var longest time.Duration
	for _, k := range keys {
		l, ok := t.limiters[k]
		if !ok {
			continue
		}
		if tokens := l.TokensAt(now); tokens < 1 {
			wait := time.Duration((1 - tokens) * float64(t.every))
			longest = max(longest, wait)
		}
	}
	return longest
}

// Fail records one failed attempt against each key.
func (t *Throttle) Fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range keys {
		t.limiter(k).AllowN(now, 1)
	}
	t.forgetIdle(now)
}

// Reset forgets the failures of key after a successful sign-in.
func (t *Throttle) Reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.limiters, key)
}

// forgetIdle drops buckets that have refilled, so the map stays as small as
// the set of addresses currently failing.
func (t *Throttle) forgetIdle(now time.Time) {
	if len(t.limiters) < 1024 {
		return
	}
	for k, l := range t.limiters {
		if l.TokensAt(now) >= float64(t.burst) {
			delete(t.limiters, k)
		}
	}
}
